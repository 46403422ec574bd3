//! A fake Lotus full node speaking go-jsonrpc over HTTP/1.1, with fault injection.
//!
//! It mirrors what a real daemon does on the wire (see `lotus-api.md` §4.1–4.6):
//! - `/rpc/v0` and `/rpc/v1` answer JSON-RPC 2.0, and `/rpc/v2` (the v2 API, here only
//!   `ChainGetTipSetFinalityStatus`) unless [`LotusState::rpc_v2`] is off, as on a Lotus before
//!   v1.35; any other path is `404 page not found`. A method of one API called on another is
//!   `-32601`.
//! - A reverse proxy in front, when asked for: [`LotusState::proxy_refusals`] answers a path with
//!   the proxy's own page (nginx's `403 Forbidden`, `405 Not Allowed`) before Lotus sees it, and
//!   [`LotusState::v1_aliases`] serves the v1 API on other paths (`/filecoin`, `/v1/KEY/rpc`),
//!   as a proxy's `location` mapped to Lotus's `/rpc/v1` does. A front's 429 or 503 to a method
//!   is [`Behavior::HttpStatus`] (lotus-gateway's per-host limit answers 429 with no body).
//! - F3 (`lotus-finality.md`): `F3IsRunning`, `F3GetLatestCertificate`, `F3GetProgress`,
//!   `F3GetManifest` with the reference's shapes; disabled is code 4 `f3 is disabled` on every
//!   F3 method; enabled but not running is `false`, all-zero progress and code 1 `f3 is not
//!   running` for the certificate ([`FakeF3`]).
//!   Like go-jsonrpc, the HTTP method is not checked: any request with a body is handled.
//! - Auth: no `Authorization` header (and no `?token=` query) means `["read"]`; `Bearer <tok>`
//!   with a configured token gives that token's permissions; anything else is HTTP 401 with an
//!   empty body. A method needing more permission answers HTTP 200, code 1,
//!   `missing permission to invoke 'WalletList' (need 'write')`.
//! - Framework errors (parse -32700, unknown method -32601, wrong param count -32602) use
//!   HTTP 500; method errors use HTTP 200 and code 1. Bodies end with `\n` like Go's encoder.
//! - `Version.APIVersion` is `api_version_v0` on `/rpc/v0` (Lotus's v0 wrapper overrides it).
//!
//! Fault injection ([`Behavior`]) applies per method name right after the request is parsed
//! and counted, before method lookup and permission checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Sleep;

/// Mainnet genesis time (`MAINNET_GENESIS_TIME`).
pub const MAINNET_GENESIS: u64 = 1_598_306_400;
/// A token with `["read"]`.
pub const READ_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBbGxvdyI6WyJyZWFkIl19.fake-read";
/// A token with `["read","write"]`.
pub const WRITE_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBbGxvdyI6WyJyZWFkIiwid3JpdGUiXX0.fake-write";
/// A token with all permissions, like `~/.lotus/token`.
pub const ADMIN_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBbGxvdyI6WyJyZWFkIiwid3JpdGUiLCJzaWduIiwiYWRtaW4iXX0.fake-admin";

/// Size of each chunk of a [`Behavior::HugeBody`] response.
const HUGE_CHUNK: usize = 64 * 1024;
static FILLER: [u8; HUGE_CHUNK] = [b'a'; HUGE_CHUNK];

// ---------------------------------------------------------------------------------------------
// Node state
// ---------------------------------------------------------------------------------------------

/// One entry of `SyncState.ActiveSyncs`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncWorker {
    pub worker_id: u64,
    /// `SyncStateStage` as an integer (0 idle … 4 complete, 5 error, 6 fetching messages).
    pub stage: i64,
    pub height: i64,
    /// Height of the `Base` tipset; `None` encodes `"Base": null`.
    pub base: Option<i64>,
    /// Height of the `Target` tipset; `None` encodes `"Target": null`.
    pub target: Option<i64>,
    /// RFC 3339 times; Go's zero time is `0001-01-01T00:00:00Z`.
    pub start: String,
    pub end: String,
    pub message: String,
}

impl SyncWorker {
    /// A worker at `height` whose base and target are both `height`.
    pub fn new(worker_id: u64, stage: i64, height: i64) -> SyncWorker {
        SyncWorker {
            worker_id,
            stage,
            height,
            base: Some(height),
            target: Some(height),
            start: rfc3339(now_secs().saturating_sub(60)),
            end: GO_ZERO_TIME.to_string(),
            message: String::new(),
        }
    }
}

/// One entry of `NetPeers` (Lotus lists one entry per connection, so ids may repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub addrs: Vec<String>,
}

impl Peer {
    pub fn new(id: &str, addrs: &[&str]) -> Peer {
        Peer {
            id: id.to_string(),
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// Everything the fake node reports; mutate it at runtime with [`FakeLotus::state_mut`].
#[derive(Debug, Clone)]
pub struct LotusState {
    pub version: String,
    /// `APIVersion` on `/rpc/v1` (packed `major<<16|minor<<8|patch`; 131840 = 2.3.0).
    pub api_version: u32,
    /// `APIVersion` on `/rpc/v0` (66816 = 1.5.0).
    pub api_version_v0: u32,
    pub block_delay: u64,
    pub agent: String,
    /// `Session` UUID; [`FakeLotus::restart`] replaces it.
    pub session: String,
    pub start_time: String,
    pub peer_id: String,
    pub genesis_timestamp: u64,
    pub network_name: String,
    /// Whether `StateGetNetworkParams` includes `GenesisTimestamp` (absent before PR #12925).
    pub genesis_in_network_params: bool,
    pub eip155_chain_id: u64,
    pub head_height: i64,
    /// One timestamp per head block (the block count is this length).
    pub head_timestamps: Vec<u64>,
    pub parent_base_fee: String,
    pub sync_workers: Vec<SyncWorker>,
    pub vm_applied: u64,
    pub peers: Vec<Peer>,
    /// `NetAutoNatStatus.Reachability` (0 unknown, 1 public, 2 private).
    pub reachability: i64,
    pub blocks_per_tipset: f64,
    /// Address → balance in attoFIL (decimal string); unknown addresses have balance `"0"`.
    pub wallets: BTreeMap<String, String>,
    pub wallet_list: Vec<String>,
    /// `None` makes `WalletDefaultAddress` fail like a node without a default key.
    pub wallet_default: Option<String>,
    /// Bearer token → permissions.
    pub tokens: HashMap<String, Vec<String>>,
    /// F3 (Fast Finality).
    pub f3: FakeF3,
    /// Whether `/rpc/v2` exists (false: HTTP 404 there, as on a Lotus before v1.35).
    pub rpc_v2: bool,
    /// v2 `ecFinalityThresholdDepth`: about 30 healthy, -1 when the EC calculator's threshold
    /// is not met (then `ecFinalizedTipSet` is `null`); always -1 below head 905, as a real node.
    pub ec_finality_depth: i64,
    /// Paths a reverse proxy in front answers itself, with this HTTP status and `text/html`
    /// body, before Lotus sees the request (`/rpc/v2` → 403, as `location /rpc/v2 { deny all; }`).
    pub proxy_refusals: BTreeMap<String, (u16, String)>,
    /// Other paths that serve the v1 API (a proxy mapping `/filecoin` to Lotus's `/rpc/v1`).
    pub v1_aliases: Vec<String>,
    /// `ForkUpgradeParams`, each with the network version it brings (Lotus
    /// `chain/consensus/filcns/upgrades.go`); `StateNetworkVersion` is that of the last one at or
    /// below the head. Mainnet's by default ([`mainnet_upgrades`]).
    pub upgrades: Vec<FakeUpgrade>,
    /// Address → the account's nonce on chain (`StateGetActor`'s `Nonce`); an address not here
    /// has no actor (`actor not found`, as Lotus answers for an account never funded).
    pub actor_nonces: BTreeMap<String, u64>,
    /// Address → messages waiting in the pool (`MpoolGetNonce` = actor nonce + this).
    pub pending_messages: BTreeMap<String, u64>,
}

/// One `Upgrade<Name>Height` field of `ForkUpgradeParams`.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeUpgrade {
    /// The field name (`UpgradeFireHorseHeight`).
    pub field: String,
    pub height: i64,
    /// The network version it brings; `None` for a field that names no version change
    /// (`UpgradeClausHeight`, `UpgradePhoenixHeight`).
    pub network_version: Option<u32>,
}

/// Mainnet's `ForkUpgradeParams` as Lotus v1.36 serves them (`build/buildconstants/
/// params_mainnet.go`), with their network versions (`chain/consensus/filcns/upgrades.go`):
/// FireHorse (nv28) at 6052800, `UpgradeXxHeight` (nv29) the placeholder 9999999999.
pub fn mainnet_upgrades() -> Vec<FakeUpgrade> {
    let list: [(&str, i64, Option<u32>); 33] = [
        ("Smoke", 51_000, Some(2)),
        ("Breeze", 41_280, Some(1)),
        ("Ignition", 94_000, Some(3)),
        ("Liftoff", 148_888, Some(5)),
        ("Assembly", 138_720, Some(4)),
        ("Refuel", 130_800, Some(3)),
        ("Tape", 140_760, Some(5)),
        ("Kumquat", 170_000, Some(6)),
        ("Calico", 265_200, Some(7)),
        ("Persian", 265_200 + 120 * 60, Some(8)),
        ("Orange", 336_458, Some(9)),
        ("Claus", 343_200, None),
        ("Trust", 550_321, Some(10)),
        ("Norwegian", 665_280, Some(11)),
        ("Turbo", 712_320, Some(12)),
        ("Hyperdrive", 892_800, Some(13)),
        ("Chocolate", 1_231_620, Some(14)),
        ("OhSnap", 1_594_680, Some(15)),
        ("Skyr", 1_960_320, Some(16)),
        ("Shark", 2_383_680, Some(17)),
        ("Hygge", 2_683_348, Some(18)),
        ("Lightning", 2_809_800, Some(19)),
        ("Thunder", 2_809_800 + 2880 * 21, Some(20)),
        ("Watermelon", 3_469_380, Some(21)),
        ("Dragon", 3_855_360, Some(22)),
        ("Phoenix", 3_855_360 + 120, None),
        ("Waffle", 4_154_640, Some(23)),
        ("Tuktuk", 4_461_240, Some(24)),
        ("Teep", 4_878_840, Some(25)),
        ("Tock", 4_878_840 + 2880 * 90, Some(26)),
        ("GoldenWeek", 5_348_280, Some(27)),
        ("FireHorse", 6_052_800, Some(28)),
        ("Xx", 9_999_999_999, Some(29)),
    ];
    list.iter()
        .map(|(name, height, network_version)| FakeUpgrade {
            field: format!("Upgrade{name}Height"),
            height: *height,
            network_version: *network_version,
        })
        .collect()
}

/// F3 as the fake serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeF3 {
    /// false: every F3 method answers code 4 `f3 is disabled`.
    pub enabled: bool,
    /// false (while enabled): `F3IsRunning` false, all-zero progress, and the certificate
    /// call fails with code 1 `f3 is not running`.
    pub running: bool,
    /// The manifest's `NetworkName` (F3's own: `filecoin` on mainnet).
    pub network_name: String,
    pub bootstrap_epoch: i64,
    pub certificate: F3Certificate,
    /// GPBFT round of the current instance (`F3GetProgress.Round`).
    pub round: u64,
}

/// What `F3GetLatestCertificate` finalizes.
#[derive(Debug, Clone, PartialEq)]
pub enum F3Certificate {
    /// `null`: no certificate yet.
    Null,
    /// Finalizes `behind` epochs below the head; the instance advances with the head.
    FollowingHead { behind: i64 },
    /// Frozen (a stall): the head moves on, the lag grows.
    Frozen { instance: u64, epoch: i64 },
}

/// nginx's own error page for `status` (`403 Forbidden`, `405 Not Allowed`), as a reverse proxy
/// answers a path it does not pass on.
pub fn nginx_page(status: u16) -> String {
    let reason = match status {
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Not Allowed",
        429 => "429 Too Many Requests",
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        _ => "Error",
    };
    format!("<html>\r\n<head><title>{reason}</title></head>\r\n<body>\r\n<center><h1>{reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
}

/// Mainnet's F3 bootstrap epoch (`lotus-finality.md`).
pub const MAINNET_F3_BOOTSTRAP: i64 = 4_920_480;

impl Default for FakeF3 {
    fn default() -> FakeF3 {
        FakeF3 {
            enabled: true,
            running: true,
            network_name: "filecoin".to_string(),
            bootstrap_epoch: MAINNET_F3_BOOTSTRAP,
            certificate: F3Certificate::FollowingHead { behind: 5 },
            round: 0,
        }
    }
}

impl FakeF3 {
    /// F3 disabled (a lite node, `LOTUS_DISABLE_F3_SUBSYSTEM`).
    pub fn disabled() -> FakeF3 {
        FakeF3 {
            enabled: false,
            ..FakeF3::default()
        }
    }

    /// F3 enabled but not running.
    pub fn not_running() -> FakeF3 {
        FakeF3 {
            running: false,
            ..FakeF3::default()
        }
    }
}

const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for LotusState {
    fn default() -> LotusState {
        LotusState::synced_now()
    }
}

impl LotusState {
    /// A mainnet node whose head is the current epoch (3 blocks), one complete sync worker.
    pub fn synced_now() -> LotusState {
        let mut state = LotusState::base();
        let height = state.expected_height();
        state.set_head_height(height);
        state.sync_workers = vec![SyncWorker::new(1, 4, height)];
        state
    }

    /// A node `epochs` behind the current epoch, with one worker in message sync toward it.
    pub fn lagging(epochs: i64) -> LotusState {
        let mut state = LotusState::base();
        let expected = state.expected_height();
        let height = expected - epochs;
        state.set_head_height(height);
        let mut worker = SyncWorker::new(1, 3, height);
        worker.target = Some(expected);
        state.sync_workers = vec![worker];
        state
    }

    /// The epoch the wall clock says the chain should be at.
    pub fn expected_height(&self) -> i64 {
        let elapsed = now_secs().saturating_sub(self.genesis_timestamp);
        (elapsed / self.block_delay.max(1)) as i64
    }

    /// Moves the head to `height`, with block timestamps `genesis + height * block_delay`.
    pub fn set_head_height(&mut self, height: i64) {
        self.head_height = height;
        let ts = self.epoch_timestamp(height);
        let blocks = self.head_timestamps.len().max(1);
        self.head_timestamps = vec![ts; blocks];
    }

    /// The timestamp of an epoch.
    pub fn epoch_timestamp(&self, height: i64) -> u64 {
        self.genesis_timestamp + height.max(0) as u64 * self.block_delay
    }

    /// Adds (or replaces) a wallet with a balance and lists it in `WalletList`.
    pub fn add_wallet(&mut self, address: &str, atto_fil: &str) {
        self.wallets
            .insert(address.to_string(), atto_fil.to_string());
        self.actor_nonces.entry(address.to_string()).or_insert(42);
        if !self.wallet_list.iter().any(|a| a == address) {
            self.wallet_list.push(address.to_string());
        }
    }

    fn base() -> LotusState {
        let wallet_a = "f1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za";
        let wallet_b = "f3vvmn62lofvhjd2ugzca6sof2j2ubwok6cj4xxbfzz4yuxfkgobpihhd2thlanmsh3w2ptld2gqkn2jvlss4a";
        let mut state = LotusState {
            version: "1.34.1+mainnet+git.8a7c1f9".to_string(),
            api_version: 131_840,
            api_version_v0: 66_816,
            block_delay: 30,
            agent: "lotus".to_string(),
            session: new_uuid(),
            start_time: rfc3339(now_secs().saturating_sub(3600)),
            peer_id: "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf".to_string(),
            genesis_timestamp: MAINNET_GENESIS,
            network_name: "testnetnet".to_string(),
            genesis_in_network_params: true,
            eip155_chain_id: 314,
            head_height: 0,
            head_timestamps: vec![MAINNET_GENESIS; 3],
            parent_base_fee: "100".to_string(),
            sync_workers: Vec::new(),
            vm_applied: 1234,
            peers: default_peers(),
            reachability: 1,
            blocks_per_tipset: 4.62,
            wallets: BTreeMap::new(),
            wallet_list: Vec::new(),
            wallet_default: Some(wallet_a.to_string()),
            tokens: default_tokens(),
            f3: FakeF3::default(),
            rpc_v2: true,
            ec_finality_depth: 30,
            proxy_refusals: BTreeMap::new(),
            v1_aliases: Vec::new(),
            upgrades: mainnet_upgrades(),
            actor_nonces: BTreeMap::new(),
            pending_messages: BTreeMap::new(),
        };
        state.add_wallet(wallet_a, "1500000000000000000");
        state.add_wallet(wallet_b, "42");
        state
    }

    /// Freezes F3 where it is now (a stall): the certificate stops, rounds climb, and the
    /// finality lag grows as the head moves on.
    pub fn stall_f3(&mut self) {
        if let Some((instance, epoch)) = self.f3_finalized() {
            self.f3.certificate = F3Certificate::Frozen { instance, epoch };
            self.f3.round = 7;
        }
    }

    /// `(instance, finalized epoch)` of the latest certificate, `None` without one (or when F3
    /// is disabled or not running).
    pub fn f3_finalized(&self) -> Option<(u64, i64)> {
        if !self.f3.enabled || !self.f3.running {
            return None;
        }
        match self.f3.certificate {
            F3Certificate::Null => None,
            F3Certificate::FollowingHead { behind } => {
                let epoch = (self.head_height - behind).max(0);
                let instance = (epoch - self.f3.bootstrap_epoch).max(0) as u64 * 58 / 100;
                Some((instance, epoch))
            }
            F3Certificate::Frozen { instance, epoch } => Some((instance, epoch)),
        }
    }

    /// Schedules the upgrade `field` (`UpgradeXxHeight`) at `height`, as a release that dates
    /// it does.
    pub fn schedule_upgrade(&mut self, field: &str, height: i64) {
        if let Some(upgrade) = self.upgrades.iter_mut().find(|u| u.field == field) {
            upgrade.height = height;
        }
    }

    /// The network version at the head: that of the last upgrade at or below it.
    pub fn network_version(&self) -> u32 {
        self.upgrades
            .iter()
            .filter(|u| u.height >= 0 && u.height <= self.head_height)
            .filter_map(|u| u.network_version)
            .max()
            .unwrap_or(0)
    }

    fn min_timestamp(&self) -> u64 {
        self.head_timestamps.iter().copied().min().unwrap_or(0)
    }
}

/// `n` distinct peers, one connection each: 10 or more is past the exporter's default
/// `--lotus.min-peers` (the default state's 3 peers are below it).
pub fn distinct_peers(n: usize) -> Vec<Peer> {
    (0..n)
        .map(|i| {
            Peer::new(
                &format!("12D3KooWPeer{i:03}"),
                &["/ip4/198.51.100.7/tcp/1347"],
            )
        })
        .collect()
}

fn default_peers() -> Vec<Peer> {
    vec![
        Peer::new(
            "12D3KooWFETiESTf1v4PGUvtnxMAcEFMzLZbJGg4tjWfGEimYior",
            &["/ip4/52.36.61.156/tcp/1347"],
        ),
        Peer::new(
            "12D3KooWKNF7vNFEhnvB45E9mw2B5z6t419W3ziZPLdUDVnLLKGs",
            &["/ip4/147.75.80.29/tcp/1347"],
        ),
        Peer::new(
            "12D3KooWEWVwHGn2yR36gKLozmb4YjDJGerotAPGxmdWZx2nxMC4",
            &["/ip4/147.75.87.75/udp/1347/quic-v1"],
        ),
    ]
}

fn default_tokens() -> HashMap<String, Vec<String>> {
    let perms = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    HashMap::from([
        (READ_TOKEN.to_string(), perms(&["read"])),
        (WRITE_TOKEN.to_string(), perms(&["read", "write"])),
        (
            ADMIN_TOKEN.to_string(),
            perms(&["read", "write", "sign", "admin"]),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------------

/// How the fake answers one method.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// Answer from [`LotusState`].
    Normal,
    /// Sleep, then answer normally.
    Delay(Duration),
    /// Accept the request and never answer (until `stop()` or drop).
    Hang,
    /// A JSON-RPC error envelope. HTTP status as go-jsonrpc: 400 for -32600, 500 for other
    /// codes in -32768..=-32000, else 200.
    RpcError { code: i64, message: String },
    /// This HTTP status with this body (`text/plain`).
    HttpStatus(u16, String),
    /// HTTP 200, `application/json`, exactly this body (malformed JSON, wrong shapes, …).
    RawBody(String),
    /// A success envelope carrying this result instead of the real one.
    Result(Value),
    /// HTTP 200, chunked, a `{"jsonrpc":"2.0","id":N,"result":"aaaa…"}` body of exactly this
    /// many bytes, produced 64 KiB at a time.
    HugeBody(usize),
    /// Headers (with the full `Content-Length`) and half the normal body, then the connection
    /// is dropped.
    ResetMidBody,
    /// An error object with no `code`, only this message, as some third-party Lotus-API nodes
    /// answer a method they do not serve (HTTP 200).
    ErrorWithoutCode(String),
}

// ---------------------------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------------------------

/// A running fake Lotus daemon on `127.0.0.1`; dropping it shuts the server down.
pub struct FakeLotus {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<Server>>,
    /// While stopped, the port stays bound (never listened on: connections are refused), so no
    /// other test's fake or exporter can take it and answer in its place.
    reserved: Mutex<Option<tokio::net::TcpSocket>>,
}

struct Server {
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLotus {
    /// Starts a fake with [`LotusState::synced_now`] on an ephemeral port.
    pub async fn start() -> FakeLotus {
        FakeLotus::start_with(LotusState::synced_now()).await
    }

    /// Starts a fake with the given state on an ephemeral port.
    pub async fn start_with(state: LotusState) -> FakeLotus {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake lotus");
        let addr = listener.local_addr().expect("fake lotus local addr");
        let shared = Arc::new(Shared::new(state));
        let server = spawn_server(listener, shared.clone());
        FakeLotus {
            addr,
            shared,
            server: Mutex::new(Some(server)),
            reserved: Mutex::new(None),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The multiaddr a Lotus `api` file would hold: `/ip4/127.0.0.1/tcp/PORT/http`.
    pub fn api_info(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/http", self.port())
    }

    /// `TOKEN:/ip4/127.0.0.1/tcp/PORT/http`, as `FULLNODE_API_INFO` holds it.
    pub fn api_info_with_token(&self, token: &str) -> String {
        format!("{token}:{}", self.api_info())
    }

    /// The base URL, `http://127.0.0.1:PORT` (an API-info URL; `/rpc/v1` is appended by users).
    #[allow(dead_code, reason = "used by benches/inprocess.rs, not by the tests")]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the current state.
    pub fn state(&self) -> LotusState {
        lock(&self.shared.state).clone()
    }

    /// Mutates the state under its lock (do not block inside `f`).
    pub fn state_mut<R>(&self, f: impl FnOnce(&mut LotusState) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// Sets the behavior of one method (`"ChainHead"` and `"Filecoin.ChainHead"` are the same).
    pub fn set_behavior(&self, method: &str, behavior: Behavior) {
        let mut behaviors = lock(&self.shared.behaviors);
        behaviors.per_method.insert(full_method(method), behavior);
    }

    /// Sets the behavior of every method without its own behavior.
    #[allow(
        dead_code,
        reason = "used by the bench's fake_backends, not by the tests"
    )]
    pub fn set_default_behavior(&self, behavior: Behavior) {
        lock(&self.shared.behaviors).default = behavior;
    }

    /// Back to [`Behavior::Normal`] everywhere.
    pub fn clear_behaviors(&self) {
        *lock(&self.shared.behaviors) = Behaviors::default();
    }

    /// When on, new connections are accepted and then never read or answered.
    pub fn set_silent(&self, silent: bool) {
        self.shared.silent.store(silent, Ordering::SeqCst);
    }

    /// Requests seen for a method (parsed and authorized), e.g. `calls("Filecoin.ChainHead")`.
    pub fn calls(&self, method: &str) -> usize {
        let stats = lock(&self.shared.stats);
        stats.calls.get(&full_method(method)).copied().unwrap_or(0)
    }

    /// JSON-RPC requests seen for all methods.
    pub fn total_calls(&self) -> usize {
        lock(&self.shared.stats).calls.values().sum()
    }

    /// HTTP requests seen on any path (including 401s and 404s).
    #[allow(
        dead_code,
        reason = "used by the bench's fake_backends, not by the tests"
    )]
    pub fn http_requests(&self) -> usize {
        lock(&self.shared.stats).auth_headers.len()
    }

    /// HTTP requests seen on one path (`/rpc/v2`), whatever the answer (404s included).
    pub fn requests_to(&self, path: &str) -> usize {
        lock(&self.shared.stats)
            .paths
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// The `Authorization` header of every HTTP request, in order (`None` when absent).
    pub fn auth_headers(&self) -> Vec<Option<String>> {
        lock(&self.shared.stats).auth_headers.clone()
    }

    /// Response body bytes handed to the connection, all responses together.
    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_total.load(Ordering::SeqCst)
    }

    /// Response body bytes handed to the connection for one method's responses.
    pub fn bytes_written_for(&self, method: &str) -> u64 {
        let stats = lock(&self.shared.stats);
        stats
            .bytes_by_method
            .get(&full_method(method))
            .copied()
            .unwrap_or(0)
    }

    /// Zeroes every counter and forgets the recorded headers.
    pub fn reset_counters(&self) {
        *lock(&self.shared.stats) = Stats::default();
        self.shared.bytes_total.store(0, Ordering::SeqCst);
    }

    /// Closes the listener and every open connection; returns once they are closed. The port
    /// stays reserved (bound, not listening) until [`FakeLotus::restart`] or drop.
    pub async fn stop(&self) {
        let server = lock(&self.server).take();
        if let Some(server) = server {
            let _ = server.shutdown.send(());
            let _ = server.task.await;
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            socket
                .bind(self.addr)
                .expect("keep the stopped fake lotus's port bound");
            *lock(&self.reserved) = Some(socket);
        }
    }

    /// Stops (if running) and listens again on the same port, with a new `Session` UUID.
    pub async fn restart(&self) {
        self.stop().await;
        let reserved = lock(&self.reserved).take();
        let listener = match reserved {
            Some(socket) => socket.listen(1024),
            None => TcpListener::bind(self.addr).await,
        }
        .expect("listen again on the fake lotus's port");
        self.state_mut(|s| s.session = new_uuid());
        let server = spawn_server(listener, self.shared.clone());
        *lock(&self.server) = Some(server);
    }

    /// Whether the server is listening.
    pub fn is_running(&self) -> bool {
        lock(&self.server).is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state and bookkeeping
// ---------------------------------------------------------------------------------------------

struct Shared {
    state: Mutex<LotusState>,
    behaviors: Mutex<Behaviors>,
    stats: Mutex<Stats>,
    bytes_total: AtomicU64,
    silent: AtomicBool,
}

struct Behaviors {
    per_method: HashMap<String, Behavior>,
    default: Behavior,
}

impl Default for Behaviors {
    fn default() -> Behaviors {
        Behaviors {
            per_method: HashMap::new(),
            default: Behavior::Normal,
        }
    }
}

#[derive(Default)]
struct Stats {
    calls: HashMap<String, usize>,
    auth_headers: Vec<Option<String>>,
    /// HTTP requests per path (any answer, 404s included).
    paths: HashMap<String, usize>,
    bytes_by_method: HashMap<String, u64>,
}

impl Shared {
    fn new(state: LotusState) -> Shared {
        Shared {
            state: Mutex::new(state),
            behaviors: Mutex::new(Behaviors::default()),
            stats: Mutex::new(Stats::default()),
            bytes_total: AtomicU64::new(0),
            silent: AtomicBool::new(false),
        }
    }

    fn record_auth(&self, header: Option<String>) {
        lock(&self.stats).auth_headers.push(header);
    }

    fn count_call(&self, method: &str) {
        *lock(&self.stats)
            .calls
            .entry(method.to_string())
            .or_default() += 1;
    }

    fn count_bytes(&self, method: Option<&str>, n: usize) {
        self.bytes_total.fetch_add(n as u64, Ordering::SeqCst);
        if let Some(method) = method {
            let mut stats = lock(&self.stats);
            *stats.bytes_by_method.entry(method.to_string()).or_default() += n as u64;
        }
    }

    fn behavior_for(&self, method: &str) -> Behavior {
        let behaviors = lock(&self.behaviors);
        let found = behaviors.per_method.get(method);
        found.unwrap_or(&behaviors.default).clone()
    }

    /// The permissions of a request, or `None` for a 401 (go-jsonrpc `auth.Handler`).
    fn authorize(&self, header: Option<&str>) -> Option<Vec<String>> {
        let Some(header) = header.filter(|h| !h.is_empty()) else {
            return Some(vec!["read".to_string()]);
        };
        let token = header.strip_prefix("Bearer ")?;
        lock(&self.state).tokens.get(token).cloned()
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test must not cascade).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `"ChainHead"` → `"Filecoin.ChainHead"`; full names are kept.
fn full_method(method: &str) -> String {
    if method.starts_with("Filecoin.") {
        method.to_string()
    } else {
        format!("Filecoin.{method}")
    }
}

// ---------------------------------------------------------------------------------------------
// Server loop
// ---------------------------------------------------------------------------------------------

fn spawn_server(listener: TcpListener, shared: Arc<Shared>) -> Server {
    let (shutdown, stop_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, shared, stop_rx));
    Server { shutdown, task }
}

/// Accepts until told to stop (or the handle is dropped), then closes everything.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    if shared.silent.load(Ordering::SeqCst) {
        return hold_silently(stream).await;
    }
    let service = service_fn(move |req| handle(shared.clone(), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Keeps an accepted connection open without ever reading from it.
async fn hold_silently(stream: TcpStream) {
    let _held = stream;
    std::future::pending::<()>().await
}

/// Which RPC endpoint a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    V0,
    V1,
    V2,
}

/// The only methods `/rpc/v2` serves here (and which v0/v1 do not).
const V2_METHODS: [&str; 1] = ["Filecoin.ChainGetTipSetFinalityStatus"];

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let header = auth_header(&req);
    shared.record_auth(header.clone());
    *lock(&shared.stats)
        .paths
        .entry(req.uri().path().to_string())
        .or_default() += 1;
    let (v2, refusal, alias) = {
        let state = lock(&shared.state);
        let path = req.uri().path();
        (
            state.rpc_v2,
            state.proxy_refusals.get(path).cloned(),
            state.v1_aliases.iter().any(|a| a == path),
        )
    };
    if let Some((status, page)) = refusal {
        return Ok(proxy_page(&shared, status, page));
    }
    let api = match req.uri().path() {
        "/rpc/v0" => Api::V0,
        "/rpc/v1" => Api::V1,
        "/rpc/v2" if v2 => Api::V2,
        _ if alias => Api::V1,
        _ => return Ok(plain(&shared, 404, "404 page not found\n")),
    };
    let Some(perms) = shared.authorize(header.as_deref()) else {
        return Ok(plain(&shared, 401, ""));
    };
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(plain(&shared, 400, "")),
    };
    Ok(answer(&shared, &body, &perms, api).await)
}

/// The `Authorization` header, or `Bearer <t>` built from a `?token=<t>` query (go-jsonrpc).
fn auth_header(req: &Request<Incoming>) -> Option<String> {
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        return Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let query = req.uri().query()?;
    let token = query.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    Some(format!("Bearer {token}"))
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC
// ---------------------------------------------------------------------------------------------

/// A parsed JSON-RPC request.
struct Call {
    id: Value,
    method: String,
    params: Vec<Value>,
}

/// A JSON-RPC error before it is put in an envelope.
struct RpcFailure {
    code: i64,
    message: String,
}

impl RpcFailure {
    fn method(message: impl Into<String>) -> RpcFailure {
        RpcFailure {
            code: 1,
            message: message.into(),
        }
    }
}

/// A complete response body with its status.
struct Reply {
    status: u16,
    body: Bytes,
}

async fn answer(
    shared: &Arc<Shared>,
    body: &[u8],
    perms: &[String],
    api: Api,
) -> Response<FakeBody> {
    let call = match parse_call(body) {
        Ok(call) => call,
        Err(failure) => return full(shared, None, error_reply(&Value::Null, failure)),
    };
    shared.count_call(&call.method);
    let method = Some(call.method.clone());
    match shared.behavior_for(&call.method) {
        Behavior::Normal => {}
        Behavior::Delay(pause) => tokio::time::sleep(pause).await,
        Behavior::Hang => std::future::pending::<()>().await,
        Behavior::HugeBody(size) => return huge(shared, method, &call.id, size),
        Behavior::ResetMidBody => {
            let reply = normal_reply(shared, &call, perms, api);
            return reset_mid_body(shared, method, reply);
        }
        Behavior::RpcError { code, message } => {
            let reply = error_reply(&call.id, RpcFailure { code, message });
            return full(shared, method, reply);
        }
        Behavior::HttpStatus(status, text) => return plain_for(shared, method, status, text),
        Behavior::ErrorWithoutCode(message) => {
            let error = json!({"message": message});
            let reply = envelope(
                200,
                json!({"jsonrpc": "2.0", "id": call.id, "error": error}),
            );
            return full(shared, method, reply);
        }
        Behavior::RawBody(raw) => {
            let reply = Reply {
                status: 200,
                body: Bytes::from(raw),
            };
            return full(shared, method, reply);
        }
        Behavior::Result(result) => return full(shared, method, success_reply(&call.id, result)),
    }
    full(shared, method, normal_reply(shared, &call, perms, api))
}

fn parse_call(body: &[u8]) -> Result<Call, RpcFailure> {
    let parse_error = |e: String| RpcFailure {
        code: -32700,
        message: format!("unmarshaling request: {e}"),
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| parse_error(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(parse_error("request is not a JSON object".to_string()));
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(params)) => params,
        Some(_) => return Err(parse_error("params is not an array".to_string())),
    };
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        _ => String::new(),
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    Ok(Call { id, method, params })
}

fn normal_reply(shared: &Shared, call: &Call, perms: &[String], api: Api) -> Reply {
    match dispatch(shared, call, perms, api) {
        Ok(result) => success_reply(&call.id, result),
        Err(failure) => error_reply(&call.id, failure),
    }
}

fn dispatch(shared: &Shared, call: &Call, perms: &[String], api: Api) -> Result<Value, RpcFailure> {
    let on_v2 = V2_METHODS.contains(&call.method.as_str());
    let spec = method_spec(&call.method).filter(|_| on_v2 == (api == Api::V2));
    let Some(spec) = spec else {
        return Err(RpcFailure {
            code: -32601,
            message: format!("method '{}' not found", call.method),
        });
    };
    if !perms.iter().any(|p| p == spec.perm) {
        let short = call.method.trim_start_matches("Filecoin.");
        return Err(RpcFailure::method(format!(
            "missing permission to invoke '{short}' (need '{}')",
            spec.perm
        )));
    }
    if call.params.len() != spec.params {
        return Err(RpcFailure {
            code: -32602,
            message: format!(
                "wrong param count (method '{}'): {} != {}",
                call.method,
                call.params.len(),
                spec.params
            ),
        });
    }
    let state = lock(&shared.state);
    (spec.run)(&state, &call.params, api)
}

fn success_reply(id: &Value, result: Value) -> Reply {
    envelope(200, json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn error_reply(id: &Value, failure: RpcFailure) -> Reply {
    let status = match failure.code {
        -32600 => 400,
        -32768..=-32000 => 500,
        _ => 200,
    };
    let error = json!({"code": failure.code, "message": failure.message});
    envelope(status, json!({"jsonrpc": "2.0", "id": id, "error": error}))
}

/// Serializes like Go's `json.Encoder`: compact, with a trailing newline.
fn envelope(status: u16, value: Value) -> Reply {
    let mut body = value.to_string();
    body.push('\n');
    Reply {
        status,
        body: Bytes::from(body),
    }
}

// ---------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------

type MethodFn = fn(&LotusState, &[Value], Api) -> Result<Value, RpcFailure>;

struct MethodSpec {
    perm: &'static str,
    params: usize,
    run: MethodFn,
}

fn method_spec(method: &str) -> Option<MethodSpec> {
    let (perm, params, run): (&str, usize, MethodFn) = match method {
        "Filecoin.Version" => ("read", 0, version),
        "Filecoin.Session" => ("read", 0, |s, _, _| Ok(json!(s.session))),
        "Filecoin.StartTime" => ("read", 0, |s, _, _| Ok(json!(s.start_time))),
        "Filecoin.ID" => ("read", 0, |s, _, _| Ok(json!(s.peer_id))),
        "Filecoin.ChainHead" => ("read", 0, |s, _, _| Ok(head_tipset(s))),
        "Filecoin.ChainGetGenesis" => ("read", 0, |s, _, _| Ok(genesis_tipset(s))),
        "Filecoin.SyncState" => ("read", 0, |s, _, _| Ok(sync_state(s))),
        "Filecoin.NetPeers" => ("read", 0, |s, _, _| Ok(net_peers(s))),
        "Filecoin.NetAutoNatStatus" => ("read", 0, |s, _, _| Ok(autonat(s))),
        "Filecoin.StateNetworkName" => ("read", 0, |s, _, _| Ok(json!(s.network_name))),
        "Filecoin.StateGetNetworkParams" => ("read", 0, |s, _, _| Ok(network_params(s))),
        "Filecoin.StateNetworkVersion" => ("read", 1, network_version),
        "Filecoin.StateGetActor" => ("read", 2, state_get_actor),
        "Filecoin.MpoolGetNonce" => ("read", 1, mpool_get_nonce),
        "Filecoin.NodeStatus" => ("read", 1, node_status),
        "Filecoin.WalletBalance" => ("read", 1, wallet_balance),
        "Filecoin.AuthVerify" => ("read", 1, auth_verify),
        "Filecoin.WalletList" => ("write", 0, |s, _, _| Ok(json!(s.wallet_list))),
        "Filecoin.WalletDefaultAddress" => ("write", 0, wallet_default),
        "Filecoin.F3IsRunning" => ("read", 0, f3_is_running),
        "Filecoin.F3GetLatestCertificate" => ("read", 0, f3_certificate),
        "Filecoin.F3GetProgress" => ("read", 0, f3_progress),
        "Filecoin.F3GetManifest" => ("read", 0, f3_manifest),
        "Filecoin.ChainGetFinalizedTipSet" => ("read", 0, finalized_tipset),
        "Filecoin.ChainGetTipSetFinalityStatus" => ("read", 0, finality_status),
        _ => return None,
    };
    Some(MethodSpec { perm, params, run })
}

fn version(state: &LotusState, _: &[Value], api: Api) -> Result<Value, RpcFailure> {
    let api_version = match api {
        Api::V0 => state.api_version_v0,
        Api::V1 | Api::V2 => state.api_version,
    };
    Ok(json!({
        "Version": state.version,
        "APIVersion": api_version,
        "BlockDelay": state.block_delay,
        "Agent": state.agent,
    }))
}

// ---------------------------------------------------------------------------------------------
// F3 and finality
// ---------------------------------------------------------------------------------------------

/// Lotus's `ErrF3Disabled` (`EF3Disabled` = 4).
fn f3_enabled(state: &LotusState) -> Result<(), RpcFailure> {
    if state.f3.enabled {
        Ok(())
    } else {
        Err(RpcFailure {
            code: 4,
            message: "f3 is disabled".to_string(),
        })
    }
}

fn f3_is_running(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    f3_enabled(state)?;
    Ok(json!(state.f3.running))
}

fn f3_certificate(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    f3_enabled(state)?;
    if !state.f3.running {
        return Err(RpcFailure::method("f3 is not running"));
    }
    let Some((instance, epoch)) = state.f3_finalized() else {
        return Ok(Value::Null);
    };
    let commitments = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let power_table =
        json!({"/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"});
    // The base (what the previous instance finalized) first, the finalized tipset last.
    let chain: Vec<Value> = [(epoch - 5).max(0), epoch]
        .iter()
        .map(|e| {
            json!({
                "Key": [{"/": fake_cid(*e as u64, 0)}],
                "Commitments": commitments,
                "Epoch": e,
                "PowerTable": power_table,
            })
        })
        .collect();
    Ok(json!({
        "GPBFTInstance": instance,
        "ECChain": chain,
        "SupplementalData": {"Commitments": commitments, "PowerTable": power_table},
        "Signers": [2, 2, 1, 1, 1, 1],
        "Signature": "VW5EYWRhU2VB",
        // No PowerTableDelta: go-f3 omits it when the power table did not change (omitempty),
        // as on the real devnet; it appears only with a change.
    }))
}

fn f3_progress(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    f3_enabled(state)?;
    let next = match state.f3_finalized() {
        Some((instance, _)) => instance + 1,
        None if state.f3.running => 1,
        None => return Ok(json!({"ID": 0, "Round": 0, "Phase": 0, "Input": null})),
    };
    let input = json!([{"Key": [{"/": fake_cid(state.head_height as u64, 0)}], "Commitments": "AAAA", "Epoch": state.head_height, "PowerTable": {"/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"}}]);
    Ok(json!({"ID": next, "Round": state.f3.round, "Phase": 1, "Input": input}))
}

fn f3_manifest(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    f3_enabled(state)?;
    // go-f3 v0.8.14's Manifest, field for field (a real v1.36.2 node: no Pause, ExplicitPower or
    // IgnoreECPower any more).
    Ok(json!({
        "ProtocolVersion": 7,
        "InitialInstance": 0,
        "BootstrapEpoch": state.f3.bootstrap_epoch,
        "NetworkName": state.f3.network_name,
        "InitialPowerTable": {"/": "bafy2bzacecklgxd2eksmodvhgurqvorkg3wamgqkrunir3al2gchv2cikgmbu"},
        "CommitteeLookback": 10,
        "CatchUpAlignment": 15_000_000_000u64,
        "Gpbft": {"Delta": 6_000_000_000u64, "DeltaBackOffExponent": 2, "QualityDeltaMultiplier": 1, "MaxLookaheadRounds": 5, "ChainProposedLength": 100, "RebroadcastBackoffBase": 6_000_000_000u64, "RebroadcastBackoffExponent": 1.3, "RebroadcastBackoffSpread": 0.1, "RebroadcastBackoffMax": 60_000_000_000u64},
        "EC": {"Period": 30_000_000_000u64, "Finality": 900, "DelayMultiplier": 2, "BaseDecisionBackoffTable": [1.3, 1.69, 2.2, 2.86, 3.71, 4.83, 6.27, 7.5], "HeadLookback": 4, "Finalize": true},
        "CertificateExchange": {"ClientRequestTimeout": 10_000_000_000u64, "ServerRequestTimeout": 60_000_000_000u64, "MinimumPollInterval": 30_000_000_000u64, "MaximumPollInterval": 120_000_000_000u64},
        "PubSub": {"CompressionEnabled": true, "ChainCompressionEnabled": true, "GMessageSubscriptionBufferSize": 128, "ValidatedMessageBufferSize": 128},
        "ChainExchange": {"SubscriptionBufferSize": 32, "MaxChainLength": 100, "MaxInstanceLookahead": 10, "MaxDiscoveredChainsPerInstance": 1000, "MaxWantedChainsPerInstance": 1000, "RebroadcastInterval": 2_000_000_000u64, "MaxTimestampAge": 8_000_000_000u64},
        "PartialMessageManager": {"PendingDiscoveredChainsBufferSize": 100, "PendingPartialMessagesBufferSize": 100, "PendingChainBroadcastsBufferSize": 100, "PendingInstanceRemovalBufferSize": 10, "CompletedMessagesBufferSize": 100, "MaxBufferedMessagesPerInstance": 25000, "MaxCachedValidatedMessagesPerInstance": 25000},
    }))
}

/// F3's finalized epoch when it is within 900 epochs of the head (v2 `f3FinalizedTipSet`).
fn f3_recent(state: &LotusState) -> Option<i64> {
    let (_, epoch) = state.f3_finalized()?;
    (state.head_height - epoch <= 900).then_some(epoch)
}

/// v1 `ChainGetFinalizedTipSet`: F3's finalized tipset, else head - 900; below epoch 900 that
/// is Lotus's error for a negative height (a real v1.36.2 devnet), not genesis.
fn finalized_tipset(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    if let Some(height) = f3_recent(state) {
        return Ok(tipset_at(state, height));
    }
    let height = state.head_height - 900;
    if height < 0 {
        return Err(RpcFailure::method(format!("height {height} is negative")));
    }
    Ok(tipset_at(state, height))
}

/// Lotus's EC finality calculator reads this many epochs back from the head (finality + 5).
const EC_CALCULATOR_WINDOW: i64 = 905;

/// v2 `ChainGetTipSetFinalityStatus`. Below [`EC_CALCULATOR_WINDOW`] the calculator's walk
/// reaches genesis and fails, and the node answers -1 whatever the chain (a real v1.36.2 devnet).
fn finality_status(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    let depth = if state.head_height < EC_CALCULATOR_WINDOW {
        -1
    } else {
        state.ec_finality_depth
    };
    let ec = (depth >= 0).then(|| (state.head_height - depth).max(0));
    let f3 = f3_recent(state);
    let finalized = match (f3, ec) {
        (Some(f3), Some(ec)) => f3.max(ec),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => (state.head_height - 900).max(0),
    };
    Ok(json!({
        "ecFinalityThresholdDepth": depth,
        "ecFinalizedTipSet": ec.map(|h| tipset_at(state, h)),
        "f3FinalizedTipSet": f3.map(|h| tipset_at(state, h)),
        "finalizedTipSet": tipset_at(state, finalized),
        "head": head_tipset(state),
    }))
}

fn wallet_balance(state: &LotusState, params: &[Value], _: Api) -> Result<Value, RpcFailure> {
    let address = address_param(params, "Filecoin.WalletBalance")?;
    let balance = state.wallets.get(address).cloned();
    Ok(json!(balance.unwrap_or_else(|| "0".to_string())))
}

/// The first param as a Filecoin address, failing like go-jsonrpc's param decoding.
fn address_param<'a>(params: &'a [Value], method: &str) -> Result<&'a str, RpcFailure> {
    let text = params.first().and_then(Value::as_str).unwrap_or("");
    let mut chars = text.chars();
    let network_ok = matches!(chars.next(), Some('f' | 't'));
    let protocol_ok = matches!(chars.next(), Some('0'..='4'));
    if network_ok && protocol_ok && text.len() > 2 {
        return Ok(text);
    }
    Err(RpcFailure {
        code: -32700,
        message: format!(
            "unmarshaling params for '{method}' (param: *address.Address): invalid address"
        ),
    })
}

fn auth_verify(state: &LotusState, params: &[Value], _: Api) -> Result<Value, RpcFailure> {
    let token = params.first().and_then(Value::as_str).unwrap_or("");
    match state.tokens.get(token) {
        Some(perms) => Ok(json!(perms)),
        None => Err(RpcFailure::method(
            "JWT Verification failed: invalid signature",
        )),
    }
}

fn wallet_default(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    match &state.wallet_default {
        Some(address) => Ok(json!(address)),
        None => Err(RpcFailure::method(
            "failed to get default key: key info not found",
        )),
    }
}

fn node_status(state: &LotusState, params: &[Value], _: Api) -> Result<Value, RpcFailure> {
    let with_chain = params.first().and_then(Value::as_bool).unwrap_or(false);
    let behind = now_secs().saturating_sub(state.min_timestamp()) / 30;
    let distinct = state
        .peers
        .iter()
        .map(|p| &p.id)
        .collect::<HashSet<_>>()
        .len();
    let per_tipset = if with_chain {
        state.blocks_per_tipset
    } else {
        0.0
    };
    Ok(json!({
        "SyncStatus": {"Epoch": state.head_height.max(0), "Behind": behind},
        "PeerStatus": {"PeersToPublishMsgs": distinct, "PeersToPublishBlocks": distinct},
        "ChainStatus": {
            "BlocksPerTipsetLast100": per_tipset,
            "BlocksPerTipsetLastFinality": per_tipset,
        },
    }))
}

fn sync_state(state: &LotusState) -> Value {
    let syncs: Vec<Value> = state
        .sync_workers
        .iter()
        .map(|w| {
            json!({
                "WorkerID": w.worker_id,
                "Base": w.base.map(|h| tipset_at(state, h)),
                "Target": w.target.map(|h| tipset_at(state, h)),
                "Stage": w.stage,
                "Height": w.height,
                "Start": w.start,
                "End": w.end,
                "Message": w.message,
            })
        })
        .collect();
    json!({"ActiveSyncs": syncs, "VMApplied": state.vm_applied})
}

fn net_peers(state: &LotusState) -> Value {
    let peers: Vec<Value> = state
        .peers
        .iter()
        .map(|p| json!({"ID": p.id, "Addrs": p.addrs}))
        .collect();
    Value::Array(peers)
}

fn autonat(state: &LotusState) -> Value {
    let addrs: Vec<&str> = match state.reachability {
        1 => vec!["/ip4/203.0.113.7/tcp/1347"],
        _ => Vec::new(),
    };
    json!({"Reachability": state.reachability, "PublicAddrs": addrs})
}

fn network_params(state: &LotusState) -> Value {
    let mut params = json!({
        "NetworkName": state.network_name,
        "BlockDelaySecs": state.block_delay,
        "ConsensusMinerMinPower": "10995116277760",
        "PreCommitChallengeDelay": 150,
        "ForkUpgradeParams": fork_upgrade_params(state),
        "Eip155ChainID": state.eip155_chain_id,
    });
    if state.genesis_in_network_params {
        params["GenesisTimestamp"] = json!(state.genesis_timestamp);
    }
    params
}

/// `ForkUpgradeParams`: the upgrade fields of `api.ForkUpgradeParams` (`api/types.go`), each an
/// `abi.ChainEpoch` (a JSON number), and `BreezeGasTampingDuration`.
fn fork_upgrade_params(state: &LotusState) -> Value {
    let mut map = serde_json::Map::new();
    for upgrade in &state.upgrades {
        map.insert(upgrade.field.clone(), json!(upgrade.height));
    }
    map.insert("BreezeGasTampingDuration".to_string(), json!(120));
    Value::Object(map)
}

/// `StateNetworkVersion([tsk])`: the version at the head (`null` or `[]`, the head).
fn network_version(state: &LotusState, _: &[Value], _: Api) -> Result<Value, RpcFailure> {
    Ok(json!(state.network_version()))
}

/// Lotus's error for an address with no actor (`chain/state/statetree.go`, code 1).
fn actor_not_found(address: &str) -> RpcFailure {
    RpcFailure::method(format!(
        "resolution lookup failed ({address}): resolve address {address}: actor not found"
    ))
}

/// `StateGetActor(addr, tsk)`: `types.ActorV5` (`Code`, `Head`, `Nonce`, `Balance`,
/// `DelegatedAddress`).
fn state_get_actor(state: &LotusState, params: &[Value], _: Api) -> Result<Value, RpcFailure> {
    let address = address_param(params, "Filecoin.StateGetActor")?;
    let nonce = *state
        .actor_nonces
        .get(address)
        .ok_or_else(|| actor_not_found(address))?;
    let balance = state
        .wallets
        .get(address)
        .cloned()
        .unwrap_or_else(|| "0".into());
    Ok(json!({
        "Code": {"/": "bafk2bzacecjkjqwpkfsn6mxnphhmmf5ysqp3vt2tsyw4ymnwlgtb7ymrysbq"},
        "Head": {"/": "bafy2bzaceavvqbzrsmbnfbodr6fmggbxdbsxrz6wkgk2bxc5xjhpd3s5gyjyk"},
        "Nonce": nonce,
        "Balance": balance,
        "DelegatedAddress": null,
    }))
}

/// `MpoolGetNonce(addr)`: the next nonce (uint64), the actor's plus what the pool holds.
fn mpool_get_nonce(state: &LotusState, params: &[Value], _: Api) -> Result<Value, RpcFailure> {
    let address = address_param(params, "Filecoin.MpoolGetNonce")?;
    let nonce = *state
        .actor_nonces
        .get(address)
        .ok_or_else(|| actor_not_found(address))?;
    let pending = state.pending_messages.get(address).copied().unwrap_or(0);
    Ok(json!(nonce + pending))
}

// ---------------------------------------------------------------------------------------------
// Tipsets
// ---------------------------------------------------------------------------------------------

fn head_tipset(state: &LotusState) -> Value {
    let blocks: Vec<Value> = state
        .head_timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| block(state, state.head_height, *ts, i))
        .collect();
    tipset(state.head_height, blocks)
}

/// A one-block tipset at `height` (sync worker Base/Target).
fn tipset_at(state: &LotusState, height: i64) -> Value {
    let ts = state.epoch_timestamp(height);
    tipset(height, vec![block(state, height, ts, 0)])
}

fn genesis_tipset(state: &LotusState) -> Value {
    let mut genesis = block(state, 0, state.genesis_timestamp, 0);
    genesis["Miner"] = json!("f00");
    genesis["ElectionProof"] = Value::Null;
    genesis["BeaconEntries"] = json!([]);
    genesis["WinPoStProof"] = Value::Null;
    genesis["Parents"] =
        json!([{"/": "bafyreiaqpwbbyjo4a42saasj36kkrpv4tsherf2e7bvezkert2a7dhonoi"}]);
    genesis["ParentWeight"] = json!("0");
    genesis["ParentBaseFee"] = json!("100000000");
    tipset(0, vec![genesis])
}

/// `{"Cids":[{"/":…}],"Blocks":[…],"Height":N}`, one CID per block.
fn tipset(height: i64, blocks: Vec<Value>) -> Value {
    let cids: Vec<Value> = (0..blocks.len())
        .map(|i| json!({"/": fake_cid(height as u64, i as u64)}))
        .collect();
    json!({"Cids": cids, "Blocks": blocks, "Height": height})
}

/// A block header with the fields and shapes of the API docs' example.
fn block(state: &LotusState, height: i64, timestamp: u64, index: usize) -> Value {
    let parent = height.saturating_sub(1).max(0) as u64;
    json!({
        "Miner": format!("f0{}", 1_938_223 + index),
        "Ticket": {"VRFProof": "rIPyBy+F827Szc5oN/6ylCmpzxfAWr7aI5F4YJrN4pLSyknkcJI3ivsCo2KKjQVZFRnFyEus1maD5LdzQpnFRKMla4138qEuML+Ne/fsgOMrUEAeL34ceVwJd+Mt4Jrz"},
        "ElectionProof": {"WinCount": 1, "VRFProof": "sN51JqjZNf+xWxwoo+wlMH1bpXI9T3wUIrla6FpwTxU4jC1z+ab5NFU/B2ZdDITTE+u8qaiibtLkld5lhNcOEOUqwKNyJ4nwFo5vAhWqvOTNdOiZmxsKpWG0NZUoXb/+"},
        "BeaconEntries": [
            {"Round": 17_133_822, "Data": "tH4q8euIaP9/QRJt8ALfkBvttSmQ/DOAt8+37wGGV5f8kkhzEFrHhskitNnPS70j"}
        ],
        "WinPoStProof": [{"PoStProof": 3, "ProofBytes": "qOPLMhMui8qm/rE2y/UceyBDv5JvRCH5Fc5Ul+kuN190XDcMme5eKURUCmE2sN1HoQ2dMZX+xNZY351dbG93H/tUr6wuNhkvmemi2Xi62YvqU36/kJh+K2YBiW7h/4LX"}],
        "Parents": [{"/": fake_cid(parent, 0)}, {"/": fake_cid(parent, 1)}],
        "ParentWeight": (116_013_147_118u64 + height.max(0) as u64 * 100).to_string(),
        "Height": height,
        "ParentStateRoot": {"/": fake_cid(parent, 100)},
        "ParentMessageReceipts": {"/": fake_cid(parent, 101)},
        "Messages": {"/": fake_cid(height.max(0) as u64, 102 + index as u64)},
        "BLSAggregate": {"Type": 2, "Data": "krFATGA0OBu/kFwtXsThVtKCkppnU7045uTURCeiOeJttxuXfx3wqJrLkCytnJFWFLVC+tiVWI4BxC3wqc9r6eAlNr9dEBx+3KwML/RFG/b5grmknLpGWn7g1EB/2T4y"},
        "Timestamp": timestamp,
        "BlockSig": {"Type": 2, "Data": "pWiUr+M8xxTxLED7GuU586gSfZCaHyLbLj0uS0HhKYRtHuyG47fIrfIT/04OCmQvEXBD8pFraWbMc3tnFrSsM1mIBJ5M38UPUfXDSspo+QGdouo2kll2X+VNKY3ajb1K"},
        "ForkSignaling": 0,
        "ParentBaseFee": state.parent_base_fee,
    })
}

/// A deterministic CIDv1 look-alike: `bafy2bzace` + 52 base32 characters.
fn fake_cid(height: u64, index: u64) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut seed = height.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_add(1);
    let mut cid = String::from("bafy2bzace");
    for _ in 0..52 {
        seed = splitmix64(seed);
        cid.push(ALPHABET[(seed % 32) as usize] as char);
    }
    cid
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Responses and bodies
// ---------------------------------------------------------------------------------------------

fn full(shared: &Arc<Shared>, method: Option<String>, reply: Reply) -> Response<FakeBody> {
    let tally = Tally::new(shared, method);
    let body = FakeBody::new(BodyKind::Full(Some(reply.body)), tally);
    respond(reply.status, "application/json", body)
}

fn plain(shared: &Arc<Shared>, status: u16, text: &'static str) -> Response<FakeBody> {
    plain_for(shared, None, status, text.to_string())
}

/// A reverse proxy's own page (`text/html`), e.g. nginx's `403 Forbidden`.
fn proxy_page(shared: &Arc<Shared>, status: u16, page: String) -> Response<FakeBody> {
    let body = FakeBody::new(
        BodyKind::Full(Some(Bytes::from(page))),
        Tally::new(shared, None),
    );
    respond(status, "text/html", body)
}

fn plain_for(
    shared: &Arc<Shared>,
    method: Option<String>,
    status: u16,
    text: String,
) -> Response<FakeBody> {
    let body = FakeBody::new(
        BodyKind::Full(Some(Bytes::from(text))),
        Tally::new(shared, method),
    );
    respond(status, "text/plain; charset=utf-8", body)
}

fn huge(
    shared: &Arc<Shared>,
    method: Option<String>,
    id: &Value,
    size: usize,
) -> Response<FakeBody> {
    let head = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":\"");
    let tail = "\"}\n";
    let (head, tail) = if head.len() + tail.len() <= size {
        (Bytes::from(head), Bytes::from_static(tail.as_bytes()))
    } else {
        (Bytes::new(), Bytes::new())
    };
    let filler = size - head.len() - tail.len();
    let kind = BodyKind::Huge {
        head: Some(head),
        filler,
        tail: Some(tail),
    };
    respond(
        200,
        "application/json",
        FakeBody::new(kind, Tally::new(shared, method)),
    )
}

fn reset_mid_body(
    shared: &Arc<Shared>,
    method: Option<String>,
    reply: Reply,
) -> Response<FakeBody> {
    let full_len = reply.body.len() as u64;
    let part = reply.body.slice(..reply.body.len() / 2);
    let kind = BodyKind::Reset {
        part: Some(part),
        full_len,
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
    };
    let mut response = respond(
        reply.status,
        "application/json",
        FakeBody::new(kind, Tally::new(shared, method)),
    );
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(full_len));
    response
}

/// Builds a response; like Go's `net/http`, an empty body gets no `Content-Type`.
fn respond(status: u16, content_type: &'static str, body: FakeBody) -> Response<FakeBody> {
    let empty = body.size_hint().exact() == Some(0);
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !empty {
        let value = HeaderValue::from_static(content_type);
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// Counts body bytes against the fake's totals as they are handed to hyper.
struct Tally {
    shared: Arc<Shared>,
    method: Option<String>,
}

impl Tally {
    fn new(shared: &Arc<Shared>, method: Option<String>) -> Tally {
        Tally {
            shared: shared.clone(),
            method,
        }
    }

    fn add(&self, n: usize) {
        self.shared.count_bytes(self.method.as_deref(), n);
    }
}

enum BodyKind {
    Full(Option<Bytes>),
    Huge {
        head: Option<Bytes>,
        filler: usize,
        tail: Option<Bytes>,
    },
    Reset {
        part: Option<Bytes>,
        full_len: u64,
        pause: Pin<Box<Sleep>>,
    },
}

/// The response body type of the fake: whole, streamed, or cut short.
pub struct FakeBody {
    kind: BodyKind,
    tally: Tally,
}

impl FakeBody {
    fn new(kind: BodyKind, tally: Tally) -> FakeBody {
        FakeBody { kind, tally }
    }

    fn next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        match &mut self.kind {
            BodyKind::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            BodyKind::Huge { head, filler, tail } => {
                Poll::Ready(next_huge_chunk(head, filler, tail).map(Ok))
            }
            BodyKind::Reset { part, pause, .. } => {
                if let Some(part) = part.take() {
                    return Poll::Ready(Some(Ok(part)));
                }
                pause.as_mut().poll(cx).map(|()| {
                    Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "fake lotus: reset mid-body",
                    )))
                })
            }
        }
    }
}

fn next_huge_chunk(
    head: &mut Option<Bytes>,
    filler: &mut usize,
    tail: &mut Option<Bytes>,
) -> Option<Bytes> {
    if let Some(head) = head.take().filter(|h| !h.is_empty()) {
        return Some(head);
    }
    if *filler > 0 {
        let n = (*filler).min(HUGE_CHUNK);
        *filler -= n;
        return Some(Bytes::from_static(&FILLER[..n]));
    }
    tail.take().filter(|t| !t.is_empty())
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let chunk = std::task::ready!(this.next_chunk(cx));
        if let Some(Ok(bytes)) = &chunk {
            this.tally.add(bytes.len());
        }
        Poll::Ready(chunk.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, BodyKind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyKind::Huge { .. } => SizeHint::default(),
            BodyKind::Reset { full_len, .. } => SizeHint::with_exact(*full_len),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time and ids
// ---------------------------------------------------------------------------------------------

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A random-looking version-4 UUID (clock, pid and a counter mixed).
fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed =
        nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::SeqCst);
    let hi = splitmix64(seed);
    let lo = splitmix64(hi);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}
