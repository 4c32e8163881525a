//! [`TcpProxy`]: a TCP proxy in front of a real server (Redis, PostgreSQL) whose
//! behaviour a test switches, so the server can look down or hung to one process while
//! it keeps serving every other test.
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// What a [`TcpProxy`] does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Pass bytes both ways.
    Forward,
    /// Close new connections at once (a server that is down).
    Refuse,
    /// Forward nothing: open connections hang as they are, new ones are accepted and
    /// never answered (a hung server).
    Stall,
}

/// A TCP proxy to `upstream`. Switching to [`ProxyMode::Stall`] leaves open
/// connections open but silent; switching to any other mode closes every open
/// connection (the clients reconnect under the new mode).
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    /// (mode, epoch): the epoch grows with every switch.
    state: Arc<watch::Sender<(ProxyMode, u64)>>,
    accept: AbortHandle,
}

impl TcpProxy {
    /// Listens on a free local port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(watch::channel((ProxyMode::Forward, 0)).0);
        let tx = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, upstream, tx.subscribe()));
            }
        })
        .abort_handle();
        Self {
            addr,
            state,
            accept,
        }
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches mode (see [`TcpProxy`] for what happens to open connections).
    pub fn set(&self, mode: ProxyMode) {
        self.state.send_modify(|(m, epoch)| {
            *m = mode;
            *epoch += 1;
        });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.set(ProxyMode::Refuse);
        self.accept.abort();
    }
}

/// Holds a connection (reading and writing nothing) until the mode changes again.
async fn hold(state: &mut watch::Receiver<(ProxyMode, u64)>) {
    let epoch = state.borrow().1;
    while state.borrow().1 == epoch {
        if state.changed().await.is_err() {
            return;
        }
    }
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<(ProxyMode, u64)>,
) {
    let mode = state.borrow_and_update().0;
    match mode {
        ProxyMode::Refuse => return,
        ProxyMode::Stall => {
            hold(&mut state).await;
            return;
        }
        ProxyMode::Forward => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        () = pump(cr, sw, state.clone()) => {}
        () = pump(sr, cw, state) => {}
    }
}

/// Copies `from` to `to` until either closes or the mode changes: to `Stall` it holds
/// both until the next change, to anything else it closes them.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut state: watch::Receiver<(ProxyMode, u64)>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = from.read(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                if state.borrow().0 == ProxyMode::Stall {
                    hold(&mut state).await;
                }
                return;
            }
        }
    }
}
