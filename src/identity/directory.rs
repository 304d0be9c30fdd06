//! Card directories: where identities publish their cards and prekey bundles, and where
//! others find them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::rotation::MAX_CARD_CHAIN_LEN;
use super::{Card, CardPolicy, Fingerprint, Identity, PrekeyBundle, PrekeyStore};
use crate::error::{Error, Result};
use crate::identity::MAX_ONE_TIME_PREKEYS;

/// A directory of cards and prekey bundles, such as an app's key server.
///
/// Cards are looked up by identity name or fingerprint; bundles are handed out by
/// identity name, each one-time prekey at most once. A directory is not trusted: what it
/// returns is verified (cards and bundles only exist verified, and
/// [`CardDirectory::find_newest`] checks the rotation chain from a card the caller
/// trusts). A networked directory maps its failures into its own [`CardDirectory::Error`],
/// which takes the crate's errors too.
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
    fn publish_bundle(&mut self, bundle: PrekeyBundle) -> Result<(), Self::Error>;

    /// Every card published under the identity name `identity`, oldest first (so a card
    /// comes after the card it replaces).
    fn find(&self, identity: &str) -> Result<Vec<Card>, Self::Error>;

    /// The card with this fingerprint, if published.
    fn find_by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Option<Card>, Self::Error>;

    /// A bundle for each current (not replaced) card named `identity` that has bundles:
    /// one with a one-time prekey not handed out before if there is one, else the
    /// fallback. Empty if there is none.
    fn find_bundles(&mut self, identity: &str) -> Result<Vec<PrekeyBundle>, Self::Error>;

    /// Publishes a bundle for each of `store`'s one-time prekeys, and the fallback without
    /// one, all for `identity`'s card (which must be published).
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

/// A published card and what the directory knows of it.
struct Entry {
    card: Card,
    /// Cards before it in its chain.
    depth: usize,
    replaced_by: Option<Fingerprint>,
    one_time: VecDeque<PrekeyBundle>,
    /// The ids of `one_time`, so that a publish checks for a repeat in O(log n) rather
    /// than by scanning up to MAX_ONE_TIME_PREKEYS bundles each time.
    queued: BTreeSet<u32>,
    handed_out: BTreeSet<u32>,
    fallback: Option<PrekeyBundle>,
}

/// A [`CardDirectory`] in memory, for examples, tests and single-process apps.
///
/// It holds only verified chains: a rotated card is taken after the card it replaces and
/// with a valid link, and a card is replaced at most once. With
/// [`InMemoryDirectory::with_policy`] it takes only cards that satisfy a [`CardPolicy`]. Each one-time prekey is handed out once: the bundle is
/// removed, and its id remembered so that republishing it does not bring it back. A
/// refused call changes nothing.
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
                before.one_time.clear();
                before.queued.clear();
                before.fallback = None;
                depth
            }
        };
        self.names
            .entry(card.identity().to_owned())
            .or_default()
            .push(fingerprint);
        self.entries.insert(
            fingerprint,
            Entry {
                card,
                depth,
                replaced_by: None,
                one_time: VecDeque::new(),
                queued: BTreeSet::new(),
                handed_out: BTreeSet::new(),
                fallback: None,
            },
        );
        Ok(())
    }

    /// The bundle is kept with the card as published (so with its app signature): the
    /// policy was checked on that card.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] if its card was not published, [`Error::CardReplaced`] if
    /// it was replaced, and [`Error::PrekeyPoolFull`] beyond [`MAX_ONE_TIME_PREKEYS`]
    /// one-time prekeys waiting.
    fn publish_bundle(&mut self, bundle: PrekeyBundle) -> Result<()> {
        let entry = self.current(bundle.card().fingerprint())?;
        let bundle = bundle.with_card(&entry.card)?;
        match bundle.one_time_prekey_id() {
            None => entry.fallback = Some(bundle),
            Some(id) => {
                if entry.queued.contains(&id) || entry.handed_out.contains(&id) {
                    return Ok(());
                }
                if entry.one_time.len() >= MAX_ONE_TIME_PREKEYS {
                    return Err(Error::PrekeyPoolFull {
                        max: MAX_ONE_TIME_PREKEYS,
                    });
                }
                entry.queued.insert(id);
                entry.one_time.push_back(bundle);
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
            if let Some(bundle) = entry.one_time.pop_front() {
                if let Some(id) = bundle.one_time_prekey_id() {
                    entry.queued.remove(&id);
                    entry.handed_out.insert(id);
                }
                bundles.push(bundle);
            } else if let Some(fallback) = &entry.fallback {
                bundles.push(fallback.clone());
            }
        }
        Ok(bundles)
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
