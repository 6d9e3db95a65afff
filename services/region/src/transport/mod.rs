//! How a region's gRPC traffic reaches the network.
//!
//! Live regions listen and dial with tokio TCP. The deterministic simulator
//! runs the very same region code over turmoil's simulated TCP; it plugs in
//! here with a [`Listener::Custom`] stream of accepted connections and a
//! [`Dialer`] for outbound ones. Nothing else in the region knows which
//! network it is on.
//!
//! [`dial()`] opens the gRPC channel to a peer that replication, repair and
//! seeding all talk over.

mod dial;

pub use dial::{DialError, dial};

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

/// A byte stream the region can serve or dial over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection of any [`Io`] type.
pub struct Conn(Pin<Box<dyn Io>>);

impl Conn {
    pub fn new(io: impl Io) -> Self {
        Conn(Box::pin(io))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.as_mut().poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// Accepted connections, for a network other than tokio's.
pub type Incoming = Pin<Box<dyn Stream<Item = io::Result<Conn>> + Send>>;

/// Where the gRPC server accepts connections.
pub enum Listener {
    Tcp(TcpListener),
    Custom {
        incoming: Incoming,
        /// The address peers use, for logs and status.
        local_addr: SocketAddr,
    },
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

impl Listener {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Custom { local_addr, .. } => Ok(*local_addr),
        }
    }
}

/// Opens an outbound connection to `host:port`. Set in [`crate::RegionConfig`]
/// (crate::RegionConfig) only when the region runs on a simulated network.
#[derive(Clone)]
pub struct Dialer(pub Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Conn>> + Send + Sync>);

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dialer(..)")
    }
}
