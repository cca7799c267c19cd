//! Who counts as one client at the doors: an IPv4 address, or an IPv6 /64 (the block one
//! host, or one home network, usually holds: counting single IPv6 addresses would let a
//! host pick a new one for every connection). An IPv4 address mapped into IPv6
//! (`::ffff:a.b.c.d`, what a dual-stack listener sees) is the IPv4 address.

use std::net::IpAddr;

/// The unit logins and connections are counted in.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> String {
        key(s.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv4_is_itself_ipv6_is_its_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(k("10.0.0.9"), "10.0.0.9");
        assert_eq!(k("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2::ffff"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.168.1.7"), "192.168.1.7");
    }
}
