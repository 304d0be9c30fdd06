//! Card directories: where identities publish their cards and prekey bundles, and where
//! others find them.

use std::collections::BTreeMap;

use super::rotation::MAX_CARD_CHAIN_LEN;
use super::{Card, CardPolicy, Fingerprint, Identity, PrekeyBundle, PrekeyStore};
use crate::error::{Error, Result};
use crate::identity::MAX_ONE_TIME_PREKEYS;

/// A directory of cards and prekey bundles, such as an app's key server.
///
/// Cards are looked up by identity name, fingerprint or identity key; bundles are handed
/// out by identity name or card, each one-time prekey at most once. A directory is not
/// trusted: what it returns is verified (cards and bundles only exist verified, and
/// [`CardDirectory::find_newest`] checks the rotation chain from a card the caller
/// trusts). A networked directory maps its failures into its own [`CardDirectory::Error`],
/// which takes the crate's errors too.
///
/// Every bundle a directory holds for a card carries the same signed prekey, the newest
/// published: a bundle of a newer one (by id) replaces them all, and an older one is
/// refused ([`Error::StaleBundle`]). So after its owner rotates the signed prekey and
/// publishes again, no bundle of a signed prekey the store may drop is handed out.
///
/// ```
/// use ratchetkit::{CardDirectory, Channel, Identity, InMemoryDirectory, PrekeyStore};
/// # let mut rng = rand::rng();
/// let mut directory = InMemoryDirectory::default();
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// bob_prekeys.generate_one_time_prekeys(&mut rng, 2)?;
/// directory.publish(bob.card().clone())?;
/// directory.publish_prekeys(&bob, &bob_prekeys)?;
///
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bundles = directory.find_bundles("bob")?;
/// let mut to_bob = Channel::create(&mut rng, &alice, &bundles[0])?;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub trait CardDirectory {
    /// What the directory's calls fail with: [`Error`] itself, or a type that also
    /// carries the directory's own failures (network, storage).
    type Error: From<Error>;

    /// Publishes a card. Publishing a card already held (same fingerprint) changes
    /// nothing. A rotated card is taken only after the card it replaces, and only if the
    /// link verifies ([`Card::verify_chain`]).
    fn publish(&mut self, card: Card) -> Result<(), Self::Error>;

    /// Publishes a prekey bundle of a published, current card: with a one-time prekey it
    /// is handed out once; without, it is the fallback handed out when none is left. The
    /// bundle is served with the card as published (see [`PrekeyBundle::with_card`]).
    ///
    /// A bundle of a newer signed prekey than the card's bundles carry drops them all
    /// (one-time and fallback) before it is taken; one of an older signed prekey is
    /// refused with [`Error::StaleBundle`].
    fn publish_bundle(&mut self, bundle: PrekeyBundle) -> Result<(), Self::Error>;

    /// Every card published under the identity name `identity`, oldest first (so a card
    /// comes after the card it replaces).
    fn find(&self, identity: &str) -> Result<Vec<Card>, Self::Error>;

    /// The card with this fingerprint, if published.
    fn find_by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Option<Card>, Self::Error>;

    /// The card whose Ed25519 identity key ([`Card::signing_key`]) is `key`, if published,
    /// whatever its name: look a peer up by the key you trust (from a safety number or an
    /// earlier card), and a card that someone else published under the peer's name never
    /// answers. A replaced card is returned too: follow its chain with
    /// [`CardDirectory::find_newest`]. Only the key's holder can sign cards with it; if it
    /// published several, the first published is returned.
    ///
    /// ```
    /// use ratchetkit::{CardDirectory, Identity, InMemoryDirectory};
    /// # let mut rng = rand::rng();
    /// let mut directory = InMemoryDirectory::default();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let impostor = Identity::generate(&mut rng, "alice")?;
    /// directory.publish(impostor.card().clone())?;
    /// directory.publish(alice.card().clone())?;
    /// let key = alice.card().signing_key();
    /// assert_eq!(directory.find_by_signing_key(&key)?.as_ref(), Some(alice.card()));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    fn find_by_signing_key(&self, key: &[u8; 32]) -> Result<Option<Card>, Self::Error>;

    /// A bundle for each current (not replaced) card named `identity` that has bundles:
    /// one with a one-time prekey not handed out before if there is one, else the
    /// fallback. Empty if there is none.
    ///
    /// Every card of that name gives one, someone else's included, and each one-time
    /// bundle handed out is used up: to open a channel to a peer you know, take its card
    /// with [`CardDirectory::find_by_signing_key`] and [`CardDirectory::find_newest`] and
    /// ask [`CardDirectory::find_bundle`] for that card's.
    fn find_bundles(&mut self, identity: &str) -> Result<Vec<PrekeyBundle>, Self::Error>;

    /// A bundle of the card `fingerprint`: one with a one-time prekey not handed out before
    /// if there is one, else the fallback; `None` if the card has no bundles.
    ///
    /// ```
    /// use ratchetkit::{CardDirectory, Identity, InMemoryDirectory, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// let mut directory = InMemoryDirectory::default();
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let mut prekeys = PrekeyStore::new(&mut rng);
    /// let ids = prekeys.generate_one_time_prekeys(&mut rng, 1)?;
    /// directory.publish(bob.card().clone())?;
    /// directory.publish_prekeys(&bob, &prekeys)?;
    /// let fingerprint = bob.card().fingerprint();
    /// let first = directory.find_bundle(&fingerprint)?.expect("a bundle");
    /// assert_eq!(first.one_time_prekey_id(), Some(ids[0]));
    /// let fallback = directory.find_bundle(&fingerprint)?.expect("a bundle");
    /// assert_eq!(fallback.one_time_prekey_id(), None);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownCard`] if the card was not published, [`Error::CardReplaced`] if it
    /// was replaced (look up the newest with [`CardDirectory::find_newest`]).
    fn find_bundle(
        &mut self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<PrekeyBundle>, Self::Error>;

    /// How many bundles with a one-time prekey the directory holds for the card
    /// `fingerprint` and has not handed out: what the owner's upkeep compares with
    /// [`ONE_TIME_PREKEY_LOW_WATER`](crate::identity::ONE_TIME_PREKEY_LOW_WATER). 0 for a
    /// replaced card.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] if the card was not published.
    fn one_time_prekey_count(&self, fingerprint: &Fingerprint) -> Result<usize, Self::Error>;

    /// Publishes a bundle for each of `store`'s one-time prekeys, and the fallback without
    /// one, all for `identity`'s card (which must be published). One-time prekeys handed
    /// out before are not handed out again; bundles of an older signed prekey are dropped
    /// (see [`CardDirectory::publish_bundle`]). To also drop the bundles of one-time
    /// prekeys the store no longer holds, use [`CardDirectory::replace_bundles`].
    fn publish_prekeys(
        &mut self,
        identity: &Identity,
        store: &PrekeyStore,
    ) -> Result<(), Self::Error> {
        for id in store.one_time_prekey_ids() {
            self.publish_bundle(store.bundle(identity, Some(id))?)?;
        }
        self.publish_bundle(store.bundle(identity, None)?)
    }

    /// Makes the bundles held for `identity`'s card (which must be published and current)
    /// exactly those of `store`: after it, every bundle handed out carries the store's
    /// current signed prekey, each one-time bundle is of a one-time prekey the store holds,
    /// and every one-time prekey the store holds has a bundle unless it was handed out
    /// before. Call it after each upkeep (rotation, expiry, replenishment), and with a
    /// store started afresh, whose signed prekey may be older than the published one.
    ///
    /// ```
    /// use ratchetkit::{CardDirectory, Identity, InMemoryDirectory, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// let mut directory = InMemoryDirectory::default();
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let mut prekeys = PrekeyStore::new(&mut rng);
    /// let ids = prekeys.generate_one_time_prekeys(&mut rng, 3)?;
    /// directory.publish(bob.card().clone())?;
    /// directory.replace_bundles(&bob, &prekeys)?;
    ///
    /// prekeys.remove_one_time_prekeys(&ids[..2]);
    /// prekeys.rotate_signed_prekey(&mut rng);
    /// directory.replace_bundles(&bob, &prekeys)?;
    /// assert_eq!(directory.one_time_prekey_count(&bob.card().fingerprint())?, 1);
    /// let bundle = directory.find_bundles("bob")?.remove(0);
    /// assert_eq!(bundle.one_time_prekey_id(), Some(ids[2]));
    /// assert_eq!(bundle.signed_prekey_id(), prekeys.signed_prekey_id());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownCard`] if the card was not published, [`Error::CardReplaced`] if it
    /// was replaced.
    fn replace_bundles(
        &mut self,
        identity: &Identity,
        store: &PrekeyStore,
    ) -> Result<(), Self::Error>;

    /// Drops the bundles of `identity`'s card whose one-time prekey is one of `ids` (the
    /// ones its owner expired or removed) and forgets that they were handed out, and returns
    /// how many bundles it dropped. Ids without a bundle are passed over.
    ///
    /// ```
    /// use ratchetkit::{CardDirectory, Identity, InMemoryDirectory, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// let mut directory = InMemoryDirectory::default();
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let mut prekeys = PrekeyStore::new_at(&mut rng, 1_700_000_000);
    /// prekeys.generate_one_time_prekeys_at(&mut rng, 2, 1_700_000_000)?;
    /// directory.publish(bob.card().clone())?;
    /// directory.publish_prekeys(&bob, &prekeys)?;
    /// let expired = prekeys.expire_one_time_prekeys(1_800_000_000, 30 * 24 * 60 * 60);
    /// assert_eq!(directory.remove_one_time_bundles(&bob, &expired)?, 2);
    /// assert_eq!(directory.one_time_prekey_count(&bob.card().fingerprint())?, 0);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownCard`] if the card was not published.
    fn remove_one_time_bundles(
        &mut self,
        identity: &Identity,
        ids: &[u32],
    ) -> Result<usize, Self::Error>;

    /// The newest card of `trusted`'s identity that the directory can chain back to
    /// `trusted`, verified; `trusted` itself when it was not replaced.
    ///
    /// # Errors
    /// Those of [`Card::verify_chain`].
    fn find_newest(&self, trusted: &Card) -> Result<Card, Self::Error> {
        let cards = self.find(trusted.identity())?;
        let mut chain: Vec<Card> = Vec::new();
        let mut head = trusted.fingerprint();
        // One card past the limit is enough for verify_chain to refuse the chain.
        while chain.len() <= MAX_CARD_CHAIN_LEN {
            let Some(next) = cards
                .iter()
                .find(|card| card.previous_fingerprint() == Some(head))
            else {
                break;
            };
            head = next.fingerprint();
            chain.push(next.clone());
        }
        Ok(Card::verify_chain(trusted, &chain)?.clone())
    }
}

/// Half the space of prekey ids, 2^31: ids count up and wrap around after 2^32 (see
/// [`PrekeyStore`]), so one signed prekey id is newer than another when it is less than
/// this far ahead of it, modulo 2^32 (serial number arithmetic, RFC 1982). A store would
/// have to make 2^31 prekeys between two publications for the order to come out wrong.
const HALF_ID_SPACE: u32 = 1 << 31;

/// Whether the signed prekey id `candidate` comes after `held`.
fn is_newer(candidate: u32, held: u32) -> bool {
    let ahead = candidate.wrapping_sub(held);
    ahead != 0 && ahead < HALF_ID_SPACE
}

/// A signed prekey as bundles carry it: its id and X25519 public key.
type SignedKey = (u32, [u8; 32]);

/// The bundles held for one card. Every bundle carries the signed prekey `signed`.
#[derive(Default)]
struct Bundles {
    signed: Option<SignedKey>,
    /// One-time bundles not handed out yet, by when they were published (oldest first,
    /// so the oldest prekeys are used before they expire).
    queue: BTreeMap<u64, PrekeyBundle>,
    /// Where each one-time prekey id of `queue` is in it, so that finding, dropping or
    /// checking a bundle for a repeat takes O(log n), never a scan of up to
    /// MAX_ONE_TIME_PREKEYS bundles.
    queued: BTreeMap<u32, u64>,
    /// The position the next one-time bundle gets.
    next: u64,
    /// The one-time prekeys handed out, with their X25519 keys, so that a republished
    /// bundle does not bring one back. Dropped when the owner removes them or replaces the
    /// bundles without them: it holds only prekeys its owner still holds, at most
    /// MAX_ONE_TIME_PREKEYS after each replacement.
    handed_out: BTreeMap<u32, [u8; 32]>,
    fallback: Option<PrekeyBundle>,
}

impl Bundles {
    /// Whether bundles of `signed` are taken: `Ok(true)` if it is newer than the one held
    /// (or none is), `Ok(false)` if it is the one held.
    ///
    /// # Errors
    /// [`Error::StaleBundle`] if it is older, or the held one's id with another key.
    fn admits(&self, signed: SignedKey) -> Result<bool> {
        match self.signed {
            None => Ok(true),
            Some(held) if held == signed => Ok(false),
            Some((held, _)) if is_newer(signed.0, held) => Ok(true),
            Some((held, _)) => Err(Error::StaleBundle {
                signed_prekey_id: signed.0,
                newest: held,
            }),
        }
    }

    /// Drops every bundle (not the record of prekeys handed out) for bundles of `signed`.
    fn start(&mut self, signed: SignedKey) {
        self.queue.clear();
        self.queued.clear();
        self.fallback = None;
        self.signed = Some(signed);
    }

    fn was_handed_out(&self, id: u32, key: &[u8; 32]) -> bool {
        self.handed_out.get(&id) == Some(key)
    }

    /// Queues a one-time bundle (of prekey `id`) last.
    fn push(&mut self, id: u32, bundle: PrekeyBundle) {
        let position = self.next;
        self.next = self.next.wrapping_add(1);
        self.queued.insert(id, position);
        self.queue.insert(position, bundle);
    }

    /// Drops the queued bundle of one-time prekey `id`, if any.
    fn remove(&mut self, id: u32) -> bool {
        match self.queued.remove(&id) {
            Some(position) => self.queue.remove(&position).is_some(),
            None => false,
        }
    }

    /// The oldest one-time bundle, now handed out, else the fallback.
    fn hand_out(&mut self) -> Option<PrekeyBundle> {
        match self.queue.pop_first() {
            Some((_, bundle)) => {
                if let Some(one_time) = bundle.one_time_prekey() {
                    self.queued.remove(&one_time.id);
                    self.handed_out.insert(one_time.id, one_time.key);
                }
                Some(bundle)
            }
            None => self.fallback.clone(),
        }
    }
}

/// A published card and what the directory knows of it.
struct Entry {
    card: Card,
    /// Cards before it in its chain.
    depth: usize,
    replaced_by: Option<Fingerprint>,
    bundles: Bundles,
}

/// A [`CardDirectory`] in memory, for examples, tests and single-process apps.
///
/// It holds only verified chains: a rotated card is taken after the card it replaces and
/// with a valid link, and a card is replaced at most once. With
/// [`InMemoryDirectory::with_policy`] it takes only cards that satisfy a [`CardPolicy`].
/// Each one-time prekey is handed out once, oldest first: the bundle is removed, and its id
/// and key remembered so that republishing it does not bring it back. Every bundle held for
/// a card carries the newest signed prekey published for it. A refused call changes
/// nothing. Look-ups, hand-outs and counts take O(log n); publishing or replacing a store's
/// bundles O(n log n) in its one-time prekeys.
///
/// It takes bundles from whoever hands them in (it checks that the card's owner signed
/// them, not who sends them): someone who fetched a bundle could publish it again after its
/// owner dropped it, and it would be handed out again until the owner's next
/// [`CardDirectory::replace_bundles`]. A directory that serves strangers should take
/// bundles and removals only from the owner's account.
///
/// ```
/// use ratchetkit::{AppKey, CardDirectory, CardPolicy, Error, Identity, InMemoryDirectory};
/// # let mut rng = rand::rng();
/// let app = AppKey::generate(&mut rng);
/// let mut directory =
///     InMemoryDirectory::with_policy(CardPolicy::require_app_signature(vec![app.public()]));
/// let alice = Identity::generate(&mut rng, "alice")?;
/// assert_eq!(directory.publish(alice.card().clone()), Err(Error::MissingAppSignature));
/// directory.publish(alice.card().approve(&app)?)?;
/// assert_eq!(directory.find("alice")?.len(), 1);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Default)]
pub struct InMemoryDirectory {
    policy: CardPolicy,
    entries: BTreeMap<Fingerprint, Entry>,
    /// Fingerprints by identity name, in publication order.
    names: BTreeMap<String, Vec<Fingerprint>>,
    /// The first card published with each Ed25519 identity key.
    keys: BTreeMap<[u8; 32], Fingerprint>,
}

impl InMemoryDirectory {
    /// An empty directory that takes the cards `policy` accepts.
    pub fn with_policy(policy: CardPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// The published entry for `fingerprint` that no card has replaced.
    fn current(&mut self, fingerprint: Fingerprint) -> Result<&mut Entry> {
        let entry = self
            .entries
            .get_mut(&fingerprint)
            .ok_or(Error::UnknownCard { fingerprint })?;
        if entry.replaced_by.is_some() {
            return Err(Error::CardReplaced { fingerprint });
        }
        Ok(entry)
    }

    /// Publishes `store`'s bundles for `identity`'s card: all of them in place of those held
    /// if `replace`, else added to those held (a newer signed prekey drops them anyway).
    /// Everything that can fail is done before anything changes.
    fn publish_store(
        &mut self,
        identity: &Identity,
        store: &PrekeyStore,
        replace: bool,
    ) -> Result<()> {
        let entry = self.current(identity.card().fingerprint())?;
        let fallback = store.bundle(identity, None)?.with_card(&entry.card)?;
        let signed = (fallback.signed_prekey_id(), *fallback.signed_prekey());
        let held = &entry.bundles;
        let same = match held.admits(signed) {
            Ok(newer) => !newer,
            // A replacement takes the store's signed prekey whatever it is.
            Err(_) if replace => false,
            Err(error) => return Err(error),
        };
        let in_store: BTreeMap<u32, [u8; 32]> = store.one_time_public_keys().collect();
        let holds = |id: u32, key: &[u8; 32]| in_store.get(&id) == Some(key);

        // The queued bundles to drop, and those to sign again with the new signed prekey
        // (keeping their place in the queue).
        let mut dropped = Vec::new();
        let mut signed_again = Vec::new();
        for (position, bundle) in &held.queue {
            let Some(one_time) = bundle.one_time_prekey() else {
                continue;
            };
            if !holds(one_time.id, &one_time.key) {
                if replace || !same {
                    dropped.push(one_time.id);
                }
            } else if !same {
                let again = store.one_time_bundle(identity, &fallback, one_time.id)?;
                signed_again.push((*position, one_time.id, again));
            }
        }
        // Bundles for the store's one-time prekeys that have none and were not handed out.
        let mut fresh = Vec::new();
        for (id, key) in &in_store {
            let queued = held
                .queued
                .get(id)
                .and_then(|position| held.queue.get(position));
            let has_bundle = queued
                .and_then(PrekeyBundle::one_time_prekey)
                .is_some_and(|one_time| one_time.key == *key);
            if !has_bundle && !held.was_handed_out(*id, key) {
                fresh.push((*id, store.one_time_bundle(identity, &fallback, *id)?));
            }
        }
        let kept = held.queue.len().saturating_sub(dropped.len());
        if kept.saturating_add(fresh.len()) > MAX_ONE_TIME_PREKEYS {
            return Err(Error::PrekeyPoolFull {
                max: MAX_ONE_TIME_PREKEYS,
            });
        }

        // Nothing fails from here on.
        let held = &mut entry.bundles;
        for id in dropped {
            held.remove(id);
        }
        for (position, id, bundle) in signed_again {
            held.queued.insert(id, position);
            held.queue.insert(position, bundle);
        }
        for (id, bundle) in fresh {
            // A bundle of this id with another key (from another store) gives way.
            held.remove(id);
            held.push(id, bundle);
        }
        held.fallback = Some(fallback);
        held.signed = Some(signed);
        if replace {
            held.handed_out.retain(|id, key| holds(*id, key));
        }
        Ok(())
    }
}

impl CardDirectory for InMemoryDirectory {
    type Error = Error;

    /// # Errors
    /// The policy's errors, [`Error::UnknownCard`] for a rotated card whose previous card
    /// is not here, [`Error::CardReplaced`] if that card was replaced already, the errors
    /// of [`Card::verify_chain`] for a bad link, and [`Error::CardChainTooLong`] for a
    /// card more than [`MAX_CARD_CHAIN_LEN`] rotations after its first card.
    fn publish(&mut self, card: Card) -> Result<()> {
        let fingerprint = card.fingerprint();
        if self.entries.contains_key(&fingerprint) {
            return Ok(());
        }
        self.policy.check(&card)?;
        let depth = match card.previous_fingerprint() {
            None => 0,
            Some(previous) => {
                let before = self.current(previous)?;
                Card::verify_chain(&before.card, core::slice::from_ref(&card))?;
                let depth = before.depth.saturating_add(1);
                if depth > MAX_CARD_CHAIN_LEN {
                    return Err(Error::CardChainTooLong {
                        len: depth,
                        max: MAX_CARD_CHAIN_LEN,
                    });
                }
                before.replaced_by = Some(fingerprint);
                // Bundles signed with the replaced key are not handed out any more.
                before.bundles = Bundles::default();
                depth
            }
        };
        self.names
            .entry(card.identity().to_owned())
            .or_default()
            .push(fingerprint);
        self.keys.entry(card.signing_key()).or_insert(fingerprint);
        self.entries.insert(
            fingerprint,
            Entry {
                card,
                depth,
                replaced_by: None,
                bundles: Bundles::default(),
            },
        );
        Ok(())
    }

    /// The bundle is kept with the card as published (so with its app signature): the
    /// policy was checked on that card.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] if its card was not published, [`Error::CardReplaced`] if
    /// it was replaced, [`Error::StaleBundle`] if its signed prekey is older than the one
    /// the card's bundles carry, and [`Error::PrekeyPoolFull`] beyond
    /// [`MAX_ONE_TIME_PREKEYS`] one-time prekeys waiting.
    fn publish_bundle(&mut self, bundle: PrekeyBundle) -> Result<()> {
        let entry = self.current(bundle.card().fingerprint())?;
        let bundle = bundle.with_card(&entry.card)?;
        let signed = (bundle.signed_prekey_id(), *bundle.signed_prekey());
        let held = &mut entry.bundles;
        let newer = held.admits(signed)?;
        let one_time = bundle
            .one_time_prekey()
            .map(|one_time| (one_time.id, one_time.key));
        if let (Some((id, key)), false) = (one_time, newer) {
            if held.queued.contains_key(&id) || held.was_handed_out(id, &key) {
                return Ok(());
            }
            if held.queue.len() >= MAX_ONE_TIME_PREKEYS {
                return Err(Error::PrekeyPoolFull {
                    max: MAX_ONE_TIME_PREKEYS,
                });
            }
        }
        if newer {
            held.start(signed);
        }
        match one_time {
            None => held.fallback = Some(bundle),
            Some((id, key)) => {
                if !held.was_handed_out(id, &key) {
                    held.push(id, bundle);
                }
            }
        }
        Ok(())
    }

    fn find(&self, identity: &str) -> Result<Vec<Card>> {
        Ok(self
            .names
            .get(identity)
            .into_iter()
            .flatten()
            .filter_map(|fingerprint| self.entries.get(fingerprint))
            .map(|entry| entry.card.clone())
            .collect())
    }

    fn find_by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Option<Card>> {
        Ok(self
            .entries
            .get(fingerprint)
            .map(|entry| entry.card.clone()))
    }

    fn find_by_signing_key(&self, key: &[u8; 32]) -> Result<Option<Card>> {
        Ok(self
            .keys
            .get(key)
            .and_then(|fingerprint| self.entries.get(fingerprint))
            .map(|entry| entry.card.clone()))
    }

    fn find_bundles(&mut self, identity: &str) -> Result<Vec<PrekeyBundle>> {
        let Some(fingerprints) = self.names.get(identity) else {
            return Ok(Vec::new());
        };
        let mut bundles = Vec::new();
        for fingerprint in fingerprints {
            let Some(entry) = self.entries.get_mut(fingerprint) else {
                continue;
            };
            if entry.replaced_by.is_some() {
                continue;
            }
            bundles.extend(entry.bundles.hand_out());
        }
        Ok(bundles)
    }

    fn find_bundle(&mut self, fingerprint: &Fingerprint) -> Result<Option<PrekeyBundle>> {
        Ok(self.current(*fingerprint)?.bundles.hand_out())
    }

    fn one_time_prekey_count(&self, fingerprint: &Fingerprint) -> Result<usize> {
        self.entries
            .get(fingerprint)
            .map(|entry| entry.bundles.queue.len())
            .ok_or(Error::UnknownCard {
                fingerprint: *fingerprint,
            })
    }

    /// All at once: a refused call publishes nothing.
    ///
    /// # Errors
    /// Those of [`CardDirectory::publish_bundle`].
    fn publish_prekeys(&mut self, identity: &Identity, store: &PrekeyStore) -> Result<()> {
        self.publish_store(identity, store, false)
    }

    fn replace_bundles(&mut self, identity: &Identity, store: &PrekeyStore) -> Result<()> {
        self.publish_store(identity, store, true)
    }

    fn remove_one_time_bundles(&mut self, identity: &Identity, ids: &[u32]) -> Result<usize> {
        let fingerprint = identity.card().fingerprint();
        let held = &mut self
            .entries
            .get_mut(&fingerprint)
            .ok_or(Error::UnknownCard { fingerprint })?
            .bundles;
        let mut removed = 0;
        for &id in ids {
            if held.remove(id) {
                removed += 1;
            }
            held.handed_out.remove(&id);
        }
        Ok(removed)
    }
}

impl core::fmt::Debug for InMemoryDirectory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InMemoryDirectory")
            .field("policy", &self.policy)
            .field("cards", &self.entries.len())
            .finish_non_exhaustive()
    }
}
