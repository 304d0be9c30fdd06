//! Arbitrary bytes to every import of public data (cards as bytes and base64, prekey
//! bundles) and to the decoder of every wire message: no panic, and whatever decodes
//! encodes and decodes back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use ratchetkit::wire::v1;
use ratchetkit::{Card, PrekeyBundle};

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(message) = M::decode(data) {
        let again = M::decode(message.encode_to_vec().as_slice()).expect("re-encoding decodes");
        assert_eq!(again, message);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = Card::from_bytes(data) {
        let again = Card::from_bytes(&card.to_bytes()).expect("a card's bytes import");
        assert_eq!(again.fingerprint(), card.fingerprint());
    }
    let _ = Card::from_base64(&String::from_utf8_lossy(data));
    if let Ok(bundle) = PrekeyBundle::from_bytes(data) {
        PrekeyBundle::from_bytes(&bundle.to_bytes()).expect("a bundle's bytes import");
    }
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
});
