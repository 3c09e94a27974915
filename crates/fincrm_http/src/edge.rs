//! What the HTTP edge decides before any handler: the client's address (through trusted
//! reverse proxies only) and the login rate limit per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings of the HTTP edge.
#[derive(Debug, Default)]
pub struct EdgeSettings {
    /// Reverse proxies whose `X-Forwarded-For` is believed. Empty: the socket's peer is the
    /// client, whatever the headers say.
    pub trusted_proxies: Vec<IpAddr>,
    /// Login attempts per client address.
    pub login_limiter: LoginLimiter,
}

impl EdgeSettings {
    /// The client of a request from `peer` carrying `forwarded_for` (the `X-Forwarded-For`
    /// values, in order): the peer itself unless it is a trusted proxy; then the right-most
    /// address that is not a trusted proxy (the left part of the header is whatever the client
    /// chose to send, and is never believed).
    pub fn client_of<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .flat_map(|v| v.split(','))
            .filter_map(|h| h.trim().parse().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .copied()
            .unwrap_or(peer)
    }
}

/// A token bucket per client address for `POST /api/v1/session`: [`Self::BURST`] attempts at
/// once, then one more every [`Self::REFILL`]. The per-user lockout (in the auth service) stops
/// guessing one password; this stops one address spraying many users.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LoginLimiter {
    /// Attempts allowed at once.
    pub const BURST: f64 = 10.0;
    /// One attempt more per this long.
    pub const REFILL: Duration = Duration::from_secs(6);
    /// Addresses remembered before full buckets are forgotten.
    const MAX_TRACKED: usize = 10_000;

    /// Takes one attempt for `client` at `now`: `Err(wait)` when the bucket is empty.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= Self::MAX_TRACKED {
            buckets.retain(|_, b| Self::refilled(*b, now) < Self::BURST);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: Self::BURST,
            at: now,
        });
        let tokens = Self::refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Self::REFILL.mul_f64(1.0 - tokens))
        }
    }

    fn refilled(b: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed / Self::REFILL.as_secs_f64()).min(Self::BURST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let edge = EdgeSettings {
            trusted_proxies: vec![ip("10.0.0.1"), ip("10.0.0.2")],
            ..EdgeSettings::default()
        };
        let header = ["6.6.6.6, 203.0.113.7, 10.0.0.2"];
        assert_eq!(
            edge.client_of(ip("10.0.0.1"), header.into_iter()),
            ip("203.0.113.7"),
            "right-most untrusted hop; the spoofed left part is ignored"
        );
        assert_eq!(
            edge.client_of(ip("198.51.100.9"), header.into_iter()),
            ip("198.51.100.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            edge.client_of(ip("10.0.0.1"), ["garbage"].into_iter()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_bucket_empties_and_refills() {
        let limiter = LoginLimiter::default();
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limiter.take(a, t0).is_ok());
        }
        let wait = limiter
            .take(a, t0)
            .expect_err("the 11th at once is refused");
        assert!(wait <= LoginLimiter::REFILL && wait > Duration::ZERO);
        assert!(limiter.take(ip("192.0.2.2"), t0).is_ok(), "per address");
        assert!(limiter.take(a, t0 + LoginLimiter::REFILL).is_ok());
        assert!(limiter.take(a, t0 + LoginLimiter::REFILL).is_err());
    }
}
