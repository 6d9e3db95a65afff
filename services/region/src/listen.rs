//! The rules on the addresses of the endpoints a cluster file adds (the
//! failover endpoint's, the edge's): the port each must have to itself,
//! and where a listener is dialled. Apart from the file's type so the
//! sections, and what serves them, can use them.

pub(crate) use meridian_layout::own_port;

pub use meridian_layout::dial;
