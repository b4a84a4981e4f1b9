use super::*;

const KEYS: Keys = Keys {
    networks: "[t] allowed_networks",
    hosts: "[t] allowed_hosts",
    ports: "[t] allowed_ports",
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect(s)
}

fn nets(list: &[&str]) -> Vec<Network> {
    list.iter().map(|s| s.parse().expect(s)).collect()
}

fn hosts(list: &[&str]) -> Vec<HostPattern> {
    list.iter().map(|s| s.parse().expect(s)).collect()
}

fn policy(networks: &[&str], host_list: &[&str]) -> Policy {
    Policy::new(nets(networks), hosts(host_list), Vec::new(), KEYS)
}

fn reason(e: EgressError) -> Reason {
    match e {
        EgressError::Denied { reason, .. } => reason,
        e => panic!("not a refusal: {e}"),
    }
}

#[test]
fn networks_parse_strictly() {
    let table = [
        ("10.0.0.0/8", "10.0.0.0/8"),
        (" 192.168.1.0/24 ", "192.168.1.0/24"),
        ("10.0.0.5", "10.0.0.5/32"),
        ("::1", "::1/128"),
        ("fc00::/7", "fc00::/7"),
        ("PUBLIC", "public"),
        // IPv4-mapped networks are kept as the IPv4 network they mean.
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ];
    for (input, shown) in table {
        let n: Network = input.parse().expect(input);
        assert_eq!(n.to_string(), shown, "{input}");
    }
    for bad in [
        "10.0.0.0/33",
        "10.1.2.3/8",
        "nope",
        "",
        "10.0.0.0/",
        "*.lan",
    ] {
        assert!(bad.parse::<Network>().is_err(), "{bad}");
    }
    let e = "10.1.2.3/8".parse::<Network>().unwrap_err();
    assert!(e.contains("10.0.0.0/8"), "{e}");
}

#[test]
fn host_patterns_match_names_and_suffixes() {
    let exact: HostPattern = "Cam1.LAN.".parse().unwrap();
    assert!(exact.matches("cam1.lan"));
    assert!(!exact.matches("x.cam1.lan"));
    let suffix: HostPattern = "*.cams.example.com".parse().unwrap();
    assert!(suffix.matches("door.cams.example.com"));
    assert!(suffix.matches("a.b.cams.example.com"));
    assert!(!suffix.matches("cams.example.com"), "not the suffix itself");
    assert!(!suffix.matches("evilcams.example.com"), "label boundary");
    assert_eq!(suffix.to_string(), "*.cams.example.com");
    for bad in ["10.0.0.1", "[::1]", "", "*.", "a..b", "a b", "*", "x/y"] {
        assert!(bad.parse::<HostPattern>().is_err(), "{bad}");
    }
    let e = "10.0.0.1".parse::<HostPattern>().unwrap_err();
    assert!(e.contains("allowed_networks"), "{e}");
}

#[test]
fn cidrs_decide_and_canonical_forms_are_judged_as_ipv4() {
    let p = policy(&["10.0.0.0/8", "fc00::/7", "192.168.7.7"], &[]);
    for ok in [
        "10.1.2.3",
        "::ffff:10.1.2.3",
        "64:ff9b::a01:203", // NAT64 of 10.1.2.3
        "fd12::1",
        "192.168.7.7",
    ] {
        assert!(p.check_ip(ok, ip(ok)).is_ok(), "{ok}");
    }
    for no in [
        "11.0.0.1",
        "::ffff:11.0.0.1",
        "192.168.7.8",
        "127.0.0.1",
        "::1",
        "8.8.8.8",
    ] {
        assert_eq!(
            reason(p.check_ip(no, ip(no)).unwrap_err()),
            Reason::NotAllowed,
            "{no}"
        );
    }
    assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    assert_eq!(canonical(ip("64:ff9b::102:304")), ip("1.2.3.4"));
    assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
}

/// The always-denied list wins over every allow: a network that covers it, everything, or a
/// listed host name that resolves to it.
#[test]
fn metadata_and_special_addresses_are_always_denied() {
    let everything = policy(
        &["0.0.0.0/0", "::/0", "169.254.0.0/16", "public"],
        &["*.lan"],
    );
    let table = [
        ("169.254.169.254", METADATA),
        ("::ffff:169.254.169.254", METADATA),
        ("64:ff9b::a9fe:a9fe", METADATA),
        ("100.100.100.200", METADATA),
        ("fd00:ec2::254", METADATA),
        ("169.254.1.1", LINK_LOCAL),
        ("fe80::1", LINK_LOCAL),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("255.255.255.255", "the broadcast address"),
    ];
    for (addr, what) in table {
        let e = everything.check_ip(addr, ip(addr)).unwrap_err();
        assert_eq!(reason(e), Reason::AlwaysDenied(what), "{addr}");
        // A listed name resolving there is refused too.
        let e = everything.check_answer("cam.lan", &[ip(addr)]).unwrap_err();
        assert_eq!(reason(e), Reason::AlwaysDenied(what), "cam.lan -> {addr}");
    }
    // CGNAT and ULA around the metadata addresses stay allowable.
    let cgnat = policy(&["100.64.0.0/10", "fd00::/8"], &[]);
    assert!(cgnat.check_ip("x", ip("100.100.100.201")).is_ok());
    assert!(cgnat.check_ip("x", ip("fd00:ec2::253")).is_ok());
    for name in ["metadata.google.internal", "METADATA.google.internal."] {
        let e = everything
            .check_answer(name, &[ip("10.0.0.1")])
            .unwrap_err();
        assert_eq!(reason(e), Reason::DeniedName, "{name}");
    }
}

#[test]
fn a_name_passes_only_if_every_address_does() {
    let p = policy(&["10.0.0.0/8"], &[]);
    assert!(
        p.check_answer("cam", &[ip("10.0.0.1"), ip("10.0.0.2")])
            .is_ok()
    );
    let e = p
        .check_answer("cam", &[ip("10.0.0.1"), ip("127.0.0.1")])
        .unwrap_err();
    assert_eq!(reason(e), Reason::NotAllowed);
    let e = p
        .check_answer("cam", &[ip("10.0.0.1"), ip("169.254.169.254")])
        .unwrap_err();
    assert_eq!(reason(e), Reason::AlwaysDenied(METADATA));
    assert!(matches!(
        p.check_answer("cam", &[]).unwrap_err(),
        EgressError::Resolve { .. }
    ));
    // A listed name may resolve anywhere but the always-denied list.
    let listed = policy(&[], &["*.example.com"]);
    assert!(
        listed
            .check_answer("hooks.example.com", &[ip("127.0.0.1"), ip("8.8.8.8")])
            .is_ok()
    );
    let e = listed
        .check_answer("hooks.example.org", &[ip("8.8.8.8")])
        .unwrap_err();
    assert_eq!(reason(e), Reason::NotAllowed);
    // A listed name does not make an IP literal pass.
    assert!(listed.check_ip("127.0.0.1", ip("127.0.0.1")).is_err());
}

#[test]
fn public_is_the_internet_without_private_ranges() {
    for addr in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
        assert!(is_public(ip(addr)), "{addr}");
    }
    for addr in [
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "192.0.2.1",
        "198.18.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "224.0.0.1",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "2002:a00:1::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
    ] {
        assert!(!is_public(ip(addr)), "{addr}");
    }
    let p = policy(&["public"], &[]);
    assert!(p.check_ip("8.8.8.8", ip("8.8.8.8")).is_ok());
    assert!(p.check_ip("127.0.0.1", ip("127.0.0.1")).is_err());
}

#[test]
fn ports_and_messages_name_the_keys() {
    let p = Policy::new(nets(&["10.0.0.0/8"]), Vec::new(), vec![554, 8554], KEYS);
    assert!(p.check_port("cam", 554).is_ok());
    let e = p.check_port("cam", 22).unwrap_err();
    assert_eq!(
        e.to_string(),
        "port 22 of `cam` is not in [t] allowed_ports; add it there to allow it"
    );
    let any = policy(&[], &[]);
    assert!(any.check_port("cam", 22).is_ok());

    let e = p.check_ip("11.0.0.1", ip("11.0.0.1")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`11.0.0.1` is not in [t] allowed_networks; add its network there to allow it"
    );
    let e = p
        .check_answer("cam.example", &[ip("11.0.0.1")])
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("[t] allowed_networks")
            && text.contains("[t] allowed_hosts")
            && !text.contains("11.0.0.1"),
        "names the keys, not the resolved address: {text}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = p
        .check_ip("169.254.169.254", ip("169.254.169.254"))
        .unwrap_err();
    assert!(e.to_string().contains("never allowed"), "{e}");
}

#[tokio::test]
async fn lookups_check_literals_and_resolved_names() {
    let loopback = Policy::new(networks(LOOPBACK), Vec::new(), Vec::new(), KEYS);
    assert_eq!(
        loopback.resolve("127.0.0.1", 80).await.unwrap(),
        vec![SocketAddr::from(([127, 0, 0, 1], 80))]
    );
    assert_eq!(
        loopback.lookup("[::1]").await.unwrap(),
        vec![ip("::1")],
        "bracketed IPv6"
    );
    // `localhost` resolves to loopback addresses only (from /etc/hosts, no DNS server).
    let addrs = loopback.lookup("localhost").await.unwrap();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.is_loopback()));
    let private = Policy::new(networks(PRIVATE), Vec::new(), Vec::new(), KEYS);
    assert_eq!(
        reason(private.lookup("localhost").await.unwrap_err()),
        Reason::NotAllowed
    );
    assert_eq!(
        reason(private.lookup("127.0.0.1").await.unwrap_err()),
        Reason::NotAllowed
    );
    // Configuration-time: an unresolvable name passes (checked at connect), a refused one not.
    assert!(private.precheck("nothing.invalid", 554).await.is_ok());
    assert!(private.precheck("localhost", 554).await.is_err());
    assert!(matches!(
        private.resolve("nothing.invalid", 554).await.unwrap_err(),
        EgressError::Resolve { .. }
    ));
}
