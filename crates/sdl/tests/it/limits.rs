//! The group limits are enforced twice: by the SDL checks (which say where in the file) and by the
//! ledger (`stratus_types::group::validate_group_specs`, which guards every transaction). These
//! tests hold both to the same boundaries: at each limit both accept; just past it both refuse.

use stratus_types::dec::Dec;
use stratus_types::group::{GroupSpec, validate_group_specs};

fn sdl(cpu: &str, memory: &str, storage: &str, count: u64, price: &str) -> String {
    format!(
        r#"version: "2.0"
services:
  web:
    image: nginx:1
    expose:
      - port: 80
        to: [{{global: true}}]
profiles:
  compute:
    web:
      resources:
        cpu: {{units: {cpu}}}
        memory: {{size: "{memory}"}}
        storage: {{size: "{storage}"}}
  placement:
    dc:
      pricing:
        web: {{denom: uact, amount: {price}}}
deployment:
  web:
    dc: {{profile: web, count: {count}}}
"#
    )
}

fn groups(text: &str) -> Option<Vec<GroupSpec>> {
    stratus_sdl::parse_str(text).sdl.map(|s| s.groups)
}

struct Limit {
    what: &'static str,
    /// The SDL at the limit, and just past it.
    at: String,
    past: String,
    /// Moves the at-limit groups past the limit, as a transaction could.
    push: fn(&mut GroupSpec),
}

const AT: (&str, &str, &str, u64, &str) = ("1", "1Gi", "1Gi", 1, "100");

#[test]
fn the_sdl_checks_and_the_ledger_refuse_exactly_the_same_groups() {
    let (cpu, mem, sto, count, price) = AT;
    let limits = [
        Limit {
            what: "most CPU",
            at: sdl("384", mem, sto, count, price),
            past: sdl("384.001", mem, sto, count, price),
            push: |g| g.resources[0].resources.cpu.as_mut().expect("cpu").units.0 += 1,
        },
        Limit {
            what: "least CPU",
            at: sdl("0.01", mem, sto, count, price),
            past: sdl("0.009", mem, sto, count, price),
            push: |g| g.resources[0].resources.cpu.as_mut().expect("cpu").units.0 -= 1,
        },
        Limit {
            what: "most memory",
            at: sdl(cpu, "2Ti", sto, count, price),
            past: sdl(cpu, "2199023255553", sto, count, price),
            push: |g| g.resources[0].resources.memory.as_mut().expect("memory").quantity.0 += 1,
        },
        Limit {
            what: "least memory",
            at: sdl(cpu, "1Mi", sto, count, price),
            past: sdl(cpu, "1048575", sto, count, price),
            push: |g| g.resources[0].resources.memory.as_mut().expect("memory").quantity.0 -= 1,
        },
        Limit {
            what: "most storage",
            at: sdl(cpu, mem, "32Ti", count, price),
            past: sdl(cpu, mem, "35184372088833", count, price),
            push: |g| g.resources[0].resources.storage[0].quantity.0 += 1,
        },
        Limit {
            what: "least storage",
            at: sdl(cpu, mem, "5Mi", count, price),
            past: sdl(cpu, mem, "5242879", count, price),
            push: |g| g.resources[0].resources.storage[0].quantity.0 -= 1,
        },
        Limit {
            what: "most CPU in a group (replicas × CPU)",
            at: sdl("384", mem, sto, 50, price),
            past: sdl("384", mem, sto, 51, price),
            push: |g| g.resources[0].count += 1,
        },
        Limit {
            what: "highest price",
            at: sdl(cpu, mem, sto, count, "10000000"),
            past: sdl(cpu, mem, sto, count, "10000001"),
            push: |g| g.resources[0].price.amount = Dec::from_int(10_000_001).expect("dec"),
        },
    ];
    for l in limits {
        let mut at = groups(&l.at).unwrap_or_else(|| panic!("{}: the SDL refuses the limit itself", l.what));
        assert_eq!(validate_group_specs(&at), Ok(()), "{}: the ledger refuses what the SDL accepts", l.what);
        assert!(groups(&l.past).is_none(), "{}: the SDL accepts a value past the limit", l.what);
        (l.push)(&mut at[0]);
        assert!(validate_group_specs(&at).is_err(), "{}: the ledger accepts a value past the limit", l.what);
    }
}
