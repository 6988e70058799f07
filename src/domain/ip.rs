//! Client addresses as rate limits see them. One IPv6 subscriber usually holds a whole /64, so
//! limits keyed on the exact address would give a botnet of one 2^64 tries.

use std::net::IpAddr;

/// The key a per-IP limit counts under: an IPv4 address as is (IPv4-mapped IPv6 included), an
/// IPv6 address by its /64 prefix, anything unparseable as one shared bucket.
pub fn rate_key(raw: &str) -> String {
    match raw.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => "unparseable".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_subnet_share_a_key() {
        assert_eq!(
            rate_key("2001:db8:1:2:aaaa::1"),
            rate_key("2001:db8:1:2:ffff:ffff:ffff:fffe")
        );
        assert_eq!(rate_key("2001:DB8:1:2::9"), "2001:db8:1:2::/64");
        assert_ne!(rate_key("2001:db8:1:2::1"), rate_key("2001:db8:1:3::1"));
    }

    #[test]
    fn ipv4_is_kept_whole() {
        assert_eq!(rate_key("203.0.113.7"), "203.0.113.7");
        assert_ne!(rate_key("203.0.113.7"), rate_key("203.0.113.8"));
        assert_eq!(rate_key("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn junk_shares_one_bucket() {
        assert_eq!(rate_key("unknown"), rate_key("not an ip"));
    }
}
