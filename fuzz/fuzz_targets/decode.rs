//! Arbitrary bytes to every import of public data (cards as bytes and base64, prekey
//! bundles, device lists and links, envelopes through `peek`) and to the decoder of every
//! wire message (inputs up to 8 KiB): no panic, and whatever decodes encodes and decodes
//! back to the same value.
#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use prost::Message;
use ratchetkit::client::{peek, DeviceLink, DeviceList};
use ratchetkit::wire::v1;
use ratchetkit::{Card, PrekeyBundle};

/// Longest input given to prost directly. prost builds every repeated entry before anything
/// can count them (an empty entry is 2 bytes on the wire, a whole element in memory), which
/// is why the crate pre-scans its inputs before decoding; the imports above get inputs of
/// every size through it. The raw round trip checks prost's own encoding, which needs no
/// large input, and stays within the heap budget below this length.
const RAW_DECODE_MAX: usize = 8 * 1024;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if data.len() > RAW_DECODE_MAX {
        return;
    }
    if let Ok(message) = M::decode(data) {
        let again = M::decode(message.encode_to_vec().as_slice()).expect("re-encoding decodes");
        assert_eq!(again, message);
    }
}

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus { ratchetkit_fuzz::hostile(data, run) });

fn run(data: &[u8]) {
    if let Ok(card) = Card::from_bytes(data) {
        let again = Card::from_bytes(&card.to_bytes()).expect("a card's bytes import");
        assert_eq!(again.fingerprint(), card.fingerprint());
    }
    let _ = Card::from_base64(&String::from_utf8_lossy(data));
    if let Ok(bundle) = PrekeyBundle::from_bytes(data) {
        PrekeyBundle::from_bytes(&bundle.to_bytes()).expect("a bundle's bytes import");
    }
    if let Ok(list) = DeviceList::from_bytes(data) {
        let again = DeviceList::from_bytes(&list.to_bytes()).expect("a list's bytes import");
        assert_eq!(again, list);
    }
    if let Ok(link) = DeviceLink::from_bytes(data) {
        let again = DeviceLink::from_bytes(&link.to_bytes()).expect("a link's bytes import");
        assert_eq!(again, link);
    }
    let _ = peek(data);
    round_trip::<v1::Envelope>(data);
    round_trip::<v1::SignedDeviceList>(data);
    round_trip::<v1::DeviceList>(data);
    round_trip::<v1::DeviceLink>(data);
    round_trip::<v1::SignedCard>(data);
    round_trip::<v1::PrekeyBundle>(data);
    round_trip::<v1::ChannelMessage>(data);
    round_trip::<v1::RatchetHeader>(data);
    round_trip::<v1::PrekeyInfo>(data);
    round_trip::<v1::GroupMessage>(data);
    round_trip::<v1::GroupHeader>(data);
    round_trip::<v1::SenderKeyDistribution>(data);
    round_trip::<v1::SignedRoster>(data);
    round_trip::<v1::Roster>(data);
    round_trip::<v1::RosterMember>(data);
    round_trip::<v1::OwnerTransfer>(data);
    round_trip::<v1::LeaveRequest>(data);
    round_trip::<v1::ResyncRequest>(data);
    round_trip::<v1::OwnershipOffer>(data);
    round_trip::<v1::GroupControl>(data);
    round_trip::<v1::SealedRecipient>(data);
    round_trip::<v1::SealedHeader>(data);
    round_trip::<v1::SealedMessage>(data);
}
