//! The wire messages of `proto/ratchetkit.proto` (and the device lists of
//! `proto/client.proto`), declared by hand for the recompute tests,
//! so that they encode and decode without ratchetkit (whose messages are generated from
//! the same file): the channel messages, and the group messages of group protocol
//! version 2. This module must not use ratchetkit.

// The channel vectors use none of the group messages.
#![allow(dead_code)]

#[derive(Clone, PartialEq, prost::Message)]
pub struct CardContent {
    #[prost(string, tag = "1")]
    pub identity: String,
    #[prost(bytes = "vec", tag = "2")]
    pub signing_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub agreement_key: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub created_at: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub previous_fingerprint: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CardSignature {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SignedCard {
    #[prost(bytes = "vec", tag = "1")]
    pub content: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub signatures: Vec<CardSignature>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PrekeyBundle {
    #[prost(bytes = "vec", tag = "1")]
    pub card: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub signed_prekey_id: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub signed_prekey: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signed_prekey_signature: Vec<u8>,
    #[prost(uint32, optional, tag = "5")]
    pub one_time_prekey_id: Option<u32>,
    #[prost(bytes = "vec", tag = "6")]
    pub one_time_prekey: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    pub kem_prekey: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    pub one_time_kem_prekey: Vec<u8>,
    #[prost(bytes = "vec", tag = "9")]
    pub one_time_prekey_signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RatchetHeader {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub previous_chain_length: u32,
    #[prost(uint32, tag = "3")]
    pub message_number: u32,
    #[prost(uint32, tag = "4")]
    pub content_type: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub salt: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PrekeyInfo {
    #[prost(bytes = "vec", tag = "1")]
    pub initiator_card: Vec<u8>,
    // Field 2 is reserved: version 1's ephemeral key.
    #[prost(uint32, tag = "3")]
    pub signed_prekey_id: u32,
    #[prost(uint32, optional, tag = "4")]
    pub one_time_prekey_id: Option<u32>,
    #[prost(bytes = "vec", tag = "5")]
    pub kem_ciphertext: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelMessage {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub header: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    #[prost(message, optional, tag = "4")]
    pub prekey: Option<PrekeyInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupHeader {
    #[prost(bytes = "vec", tag = "1")]
    pub group_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub sender: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub epoch: u32,
    #[prost(uint32, tag = "4")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub salt: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupMessage {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub header: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyDistribution {
    #[prost(bytes = "vec", tag = "1")]
    pub group_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub sender: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub epoch: u32,
    #[prost(uint32, tag = "4")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub signing_key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RosterMember {
    #[prost(bytes = "vec", tag = "1")]
    pub card: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub added_at: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OwnerTransfer {
    #[prost(uint64, tag = "1")]
    pub version: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub new_owner: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Roster {
    #[prost(bytes = "vec", tag = "1")]
    pub group_id: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub version: u64,
    #[prost(message, repeated, tag = "3")]
    pub members: Vec<RosterMember>,
    #[prost(bytes = "vec", tag = "4")]
    pub founder: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub salt: Vec<u8>,
    #[prost(message, repeated, tag = "6")]
    pub transfers: Vec<OwnerTransfer>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SignedRoster {
    #[prost(bytes = "vec", tag = "1")]
    pub roster: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaveRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub group_id: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResyncRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub group_id: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OwnershipOffer {
    #[prost(bytes = "vec", tag = "1")]
    pub group_id: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub transfer: Option<OwnerTransfer>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupControl {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(message, optional, tag = "2")]
    pub roster: Option<SignedRoster>,
    #[prost(message, optional, tag = "3")]
    pub sender_key: Option<SenderKeyDistribution>,
    #[prost(message, optional, tag = "4")]
    pub leave: Option<LeaveRequest>,
    #[prost(uint64, tag = "5")]
    pub roster_version: u64,
    #[prost(message, optional, tag = "6")]
    pub resync: Option<ResyncRequest>,
    #[prost(message, optional, tag = "7")]
    pub offer: Option<OwnershipOffer>,
}

// The client layer's messages (`proto/client.proto`), for the device-list vectors.

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceLink {
    #[prost(bytes = "vec", tag = "1")]
    pub card: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceList {
    #[prost(bytes = "vec", tag = "1")]
    pub account_card: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub version: u64,
    #[prost(message, repeated, tag = "3")]
    pub devices: Vec<DeviceLink>,
    #[prost(uint64, tag = "4")]
    pub issued_at: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SignedDeviceList {
    #[prost(bytes = "vec", tag = "1")]
    pub list: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}
