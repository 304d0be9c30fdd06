//! The client layer against a real `ratchetkit-server` (`--server URL`): Alice, Bob and
//! Carol as apps with their own SQLite files, publishing and finding each other through
//! the server's HTTP API (`ratchetkit::http::HttpDirectory`), their envelopes waiting in
//! its mailboxes. Each app plays its own backend too: it issues itself access tokens with
//! the app key file the server wrote (`--app-key-file`).
//!
//! Run the server, then the demo (names get a random suffix, so reruns work against the
//! same server):
//!
//! ```text
//! cargo run -p ratchetkit-server
//! cargo run --example chat --features http -- --server http://127.0.0.1:8080 --app-key-file ratchetkit-server.dev-app-key
//! ```

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::{CryptoRng, RngExt};
use ratchetkit::client::{AccountId, DeviceId, DeviceList, Event, GroupId, Outgoing};
use ratchetkit::http::HttpDirectory;

use crate::clients::{open_client, AppClient};
use ratchetkit::token::{issue, TokenClaims};
use ratchetkit::{AppKey, CardDirectory, GroupEvent};

type Failure = Box<dyn std::error::Error>;

/// The command line of the server mode.
pub struct Options {
    server: String,
    app_key_file: PathBuf,
    kid: String,
    issuer: String,
}

impl Options {
    /// `--server URL --app-key-file FILE [--kid KID] [--issuer ISSUER]`.
    pub fn parse(args: &[String]) -> Result<Self, Failure> {
        let (mut server, mut app_key_file) = (None, None);
        let (mut kid, mut issuer) = ("dev".to_owned(), "ratchetkit-dev".to_owned());
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--server" => server = Some(value()?),
                "--app-key-file" => app_key_file = Some(PathBuf::from(value()?)),
                "--kid" => kid = value()?,
                "--issuer" => issuer = value()?,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(Self {
            server: server.ok_or("--server URL is needed")?,
            app_key_file: app_key_file.ok_or(
                "--app-key-file FILE is needed (the server's ratchetkit-server.dev-app-key)",
            )?,
            kid,
            issuer,
        })
    }
}

/// The app's backend: it signs each user's access tokens with the app key.
struct Backend {
    key: AppKey,
    kid: String,
    issuer: String,
}

impl Backend {
    fn token(&self, name: &str) -> Result<String, Failure> {
        let claims = TokenClaims::new(self.issuer.clone(), name, now());
        Ok(issue(&self.key, &self.kid, &claims)?)
    }
}

/// Reads the app key file: standard base64 of the 32-byte seed.
fn read_app_key(path: &Path) -> Result<AppKey, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{} is not base64", path.display()))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("{} does not hold a 32-byte key", path.display()))?;
    Ok(AppKey::from_bytes(&seed))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// One app: its user's name, its client over a SQLite file, and its connection to the
/// server with its user's token.
struct App {
    who: &'static str,
    name: String,
    file: PathBuf,
    client: AppClient,
    server: HttpDirectory,
}

impl App {
    /// A new app for `name`: publishes the account card, the device's card and bundles,
    /// and the device list.
    fn start(
        rng: &mut impl CryptoRng,
        backend: &Backend,
        url: &str,
        dir: &Path,
        who: &'static str,
        name: String,
    ) -> Result<Self, Failure> {
        let file = dir.join(format!("{who}.sqlite"));
        let mut client = open_client(rng, &file, &name, false, now())?;
        let mut server = HttpDirectory::new(url, backend.token(&name)?)?;
        let list = client.device_list().ok_or("not linked")?.clone();
        // The account card too, so that others find the account by name.
        server.publish(list.account().clone())?;
        client.publish(&mut server)?;
        let upkeep = client.upkeep(rng, now(), &mut server)?;
        server.publish_device_list(&list)?;
        println!(
            "  {who} ({name}) published an account card, a device card with {} one-time bundles, and a device list",
            upkeep.added.len()
        );
        Ok(Self {
            who,
            name,
            file,
            client,
            server,
        })
    }

    fn account(&self) -> Result<AccountId, Failure> {
        Ok(self.client.account_id().ok_or("not linked")?)
    }

    /// Finds the account named `name` on the server: of the cards of that name, the one
    /// with a device list. The app then keeps its key (pins it), never the name.
    fn find_account(&self, name: &str) -> Result<AccountId, Failure> {
        for card in self.server.find(name)? {
            let account = AccountId::of(&card);
            if self.server.device_list(account)?.is_some() {
                return Ok(account);
            }
        }
        Err(format!("no account named {name} on the server").into())
    }

    /// Adds the pinned `account` as a contact, from its device list as the server has it.
    fn add_contact(&mut self, rng: &mut impl CryptoRng, account: AccountId) -> Result<(), Failure> {
        // Looked up by key: a card someone else published under the name does not answer.
        self.server
            .find_by_signing_key(account.as_bytes())?
            .ok_or("the pinned account's card is gone")?;
        let list = self
            .server
            .device_list(account)?
            .ok_or("the account has no device list")?;
        self.client.add_contact(rng, &list.to_bytes())?;
        Ok(())
    }

    /// Starts a session with each of `devices`, each from a bundle claimed for its card.
    fn start_sessions(
        &mut self,
        rng: &mut impl CryptoRng,
        devices: &[DeviceId],
    ) -> Result<(), Failure> {
        let mut bundles = Vec::new();
        for device in devices {
            let card = self
                .server
                .find_by_signing_key(device.as_bytes())?
                .ok_or("a device without a card")?;
            let newest = self.server.find_newest(&card)?;
            if let Some(bundle) = self.server.find_bundle(&newest.fingerprint())? {
                bundles.push(bundle);
            }
        }
        self.client.start_sessions(rng, &bundles)?;
        Ok(())
    }

    /// Sends `text` to `to`: a contact and sessions first where needed, then one envelope
    /// per device into the server's mailboxes.
    fn send(&mut self, rng: &mut impl CryptoRng, to: AccountId, text: &str) -> Result<(), Failure> {
        if self.client.contact(to).is_none() {
            self.add_contact(rng, to)?;
        }
        let missing = self.client.missing_sessions(to)?;
        if !missing.is_empty() {
            self.start_sessions(rng, &missing)?;
        }
        // Saved before it returns: the envelopes can leave at once.
        let envelopes = self.client.encrypt_to(rng, to, text.as_bytes())?;
        self.server.deposit_outgoing(&envelopes)?;
        Ok(())
    }

    /// Deposits envelopes the client keeps until sent (group control), then tells it.
    fn post_kept(&mut self, envelopes: &[Outgoing]) -> Result<(), Failure> {
        self.server.deposit_outgoing(envelopes)?;
        self.client.mark_sent(envelopes)?;
        Ok(())
    }

    /// Fetches, receives and acknowledges what waits in this device's mailbox; returns how
    /// many envelopes there were.
    fn sync(&mut self, rng: &mut impl CryptoRng) -> Result<usize, Failure> {
        let device = self.client.device_id();
        let mut after = None;
        let mut count = 0;
        loop {
            let page = self.server.fetch_mailbox(device, after, 50)?;
            let Some(last) = page.last() else {
                return Ok(count);
            };
            after = Some(last.id);
            let mut done = Vec::new();
            for entry in &page {
                // Saved when it returns: acknowledging after it loses nothing in a crash.
                let received = self.client.receive(rng, &entry.envelope)?;
                self.post_kept(received.outgoing())?;
                let receipt = received.receipt();
                for event in received.into_events() {
                    self.show(rng, event)?;
                }
                if let Some(receipt) = receipt {
                    self.client.acknowledge(&[receipt])?;
                }
                done.push(entry.id);
            }
            count += done.len();
            self.server.acknowledge(device, &done)?;
        }
    }

    fn show(&mut self, rng: &mut impl CryptoRng, event: Event) -> Result<(), Failure> {
        let who = self.who;
        match event {
            Event::Message { plaintext, .. } => {
                println!("  {who} reads {:?}", String::from_utf8_lossy(&plaintext))
            }
            Event::GroupMessage { plaintext, .. } => println!(
                "  {who} reads in the group {:?}",
                String::from_utf8_lossy(&plaintext)
            ),
            Event::NewContact { .. } => println!("  {who} has a new contact"),
            Event::Group {
                group,
                event: GroupEvent::ChannelNeeded { member, .. },
            } => self.meet_for_group(rng, group, DeviceId::from_bytes(member))?,
            Event::Group {
                event: GroupEvent::Joined { .. },
                ..
            } => println!("  {who} joins the group"),
            Event::ChannelReplaced { .. } => println!("  {who} switches to the peer's channel"),
            _ => {}
        }
        Ok(())
    }

    /// A group waits for a session with `device`, whose account may be new to this app:
    /// find its device list through its card's name, start the session, deliver.
    fn meet_for_group(
        &mut self,
        rng: &mut impl CryptoRng,
        group: GroupId,
        device: DeviceId,
    ) -> Result<(), Failure> {
        if self.client.account_of(device).is_none() {
            let card = self
                .server
                .find_by_signing_key(device.as_bytes())?
                .ok_or("a group member's device has no card")?;
            let list = self
                .list_naming(card.identity(), device)?
                .ok_or("a group member's device is on no device list")?;
            self.client.add_contact(rng, &list.to_bytes())?;
        }
        self.start_sessions(rng, &[device])?;
        let delivered = self.client.deliver_group_pending(rng, group)?;
        self.post_kept(&delivered)?;
        println!(
            "  {} meets a member's device it had no session with",
            self.who
        );
        Ok(())
    }

    /// The device list, among those of the accounts named `name`, that lists `device`.
    fn list_naming(&self, name: &str, device: DeviceId) -> Result<Option<DeviceList>, Failure> {
        for card in self.server.find(name)? {
            if let Some(list) = self.server.device_list(AccountId::of(&card))? {
                if list.device(&device).is_some() {
                    return Ok(Some(list));
                }
            }
        }
        Ok(None)
    }
}

/// Syncs every app until a round finds every mailbox empty.
fn sync_all(rng: &mut impl CryptoRng, apps: &mut [&mut App]) -> Result<(), Failure> {
    loop {
        let mut count = 0;
        for app in apps.iter_mut() {
            count += app.sync(rng)?;
        }
        if count == 0 {
            return Ok(());
        }
    }
}

pub fn run(rng: &mut impl CryptoRng, options: &Options) -> Result<(), Failure> {
    let backend = Backend {
        key: read_app_key(&options.app_key_file)?,
        kid: options.kid.clone(),
        issuer: options.issuer.clone(),
    };
    let url = options.server.as_str();
    HttpDirectory::new(url, String::new())?
        .health()
        .map_err(|error| format!("the server at {url} does not answer: {error}"))?;
    let dir = std::env::temp_dir().join(format!("ratchetkit-chat-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(rng, &backend, url, &dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run_in(
    rng: &mut impl CryptoRng,
    backend: &Backend,
    url: &str,
    dir: &Path,
) -> Result<(), Failure> {
    let suffix = hex::encode(rng.random::<[u8; 4]>());
    println!("== The client layer against ratchetkit-server at {url} ==");
    println!("Three apps publish (names end in -{suffix}, new each run):");
    let name = |who: &str| format!("{who}-{suffix}");
    let mut alice = App::start(rng, backend, url, dir, "Alice", name("alice"))?;
    let mut bob = App::start(rng, backend, url, dir, "Bob", name("bob"))?;
    let mut carol = App::start(rng, backend, url, dir, "Carol", name("carol"))?;

    println!("First contact, while Bob is offline:");
    let bob_id = alice.find_account(&bob.name)?;
    if bob_id != bob.account()? {
        return Err("Alice found another account under Bob's name".into());
    }
    println!(
        "  Alice finds {} by name and pins its account key",
        bob.name
    );
    alice.send(rng, bob_id, "hi Bob, it's Alice")?;
    alice.send(rng, bob_id, "are you there?")?;
    println!("  2 envelopes wait in Bob's mailbox on the server");
    bob.sync(rng)?;
    let alice_id = alice.account()?;
    let (on_bob, on_alice) = (
        bob.client.safety_number(alice_id)?,
        alice.client.safety_number(bob_id)?,
    );
    if on_bob != on_alice {
        return Err("the safety numbers differ".into());
    }
    println!("  both screens show the safety number {on_bob}");

    println!("A restart mid-conversation:");
    bob.send(rng, alice_id, "here! restarting my phone")?;
    let file = bob.file.clone();
    let reopened = {
        let App { client, .. } = bob;
        drop(client);
        open_client(rng, &file, &name("bob"), false, now())?
    };
    let mut bob = App {
        who: "Bob",
        name: name("bob"),
        file,
        client: reopened,
        server: HttpDirectory::new(url, backend.token(&name("bob"))?)?,
    };
    println!("  Bob's client reopened from its SQLite file");
    alice.sync(rng)?;
    alice.send(rng, bob_id, "welcome back")?;
    bob.sync(rng)?;

    println!("A group: Alice and Bob, then Alice adds Carol:");
    let carol_id = alice.find_account(&carol.name)?;
    alice.add_contact(rng, carol_id)?;
    let missing = alice.client.missing_sessions(carol_id)?;
    alice.start_sessions(rng, &missing)?;
    let (group, welcome) = alice.client.create_group(rng, &[bob_id])?;
    alice.post_kept(&welcome)?;
    let added = alice.client.add_to_group(rng, group, carol_id)?;
    alice.post_kept(&added)?;
    sync_all(rng, &mut [&mut alice, &mut bob, &mut carol])?;
    let sent = alice.client.encrypt_group(rng, group, b"hello group")?;
    alice.server.deposit_outgoing(&sent)?;
    let sent = carol.client.encrypt_group(rng, group, b"Carol here")?;
    carol.server.deposit_outgoing(&sent)?;
    sync_all(rng, &mut [&mut alice, &mut bob, &mut carol])?;
    println!("done: every envelope went through the server's mailboxes and was acknowledged");
    Ok(())
}
