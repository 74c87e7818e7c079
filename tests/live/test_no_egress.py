"""The project's way of starting Ray sends nothing off this machine (C9.3 API8, C13).

The session's service was started under `strace -f -e trace=connect` (tests/live/service.py);
every connect() of every process Ray started, from the first instant, is in that log.
"""

import ipaddress
import re

import psutil
import pytest

pytestmark = [
    pytest.mark.requirement("C9.3"),
    pytest.mark.catalogue(
        part="Service start: network connections of the launcher and Ray",
        scope="system",
        strategy="inspection",
        tool="pytest + strace, live Ray Serve",
    ),
]

INET4 = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')


def _destinations(log_text):
    out = []
    for line in log_text.splitlines():
        if "connect(" not in line:
            continue
        for rx in (INET4, INET6):
            m = rx.search(line)
            if m:
                out.append((m.group(2), int(m.group(1))))
    return out


def _is_local(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified  # 0.0.0.0 means this host on Linux


@pytest.fixture(scope="module")
def connects(served):
    if served.strace_log is None:
        pytest.fail("strace is not installed (/usr/bin/strace): `make system-deps` installs it")
    # Everything up to now: the start, Ray's agents and dashboard, and the tests before this one.
    return _destinations(served.strace_log.read_text(errors="replace"))


def test_the_trace_saw_the_services_own_connections(connects):
    assert len(connects) > 10  # Ray's processes talk to each other: the trace is live


def test_starting_the_service_connects_to_no_address_off_this_machine(connects):
    outside = sorted({(a, p) for a, p in connects if not _is_local(a)})
    assert outside == [], f"connections off the machine: {outside}"


def test_no_dns_query_is_made(connects):
    # A cloud-metadata probe by name (metadata.google.internal) would start with one.
    assert [(a, p) for a, p in connects if p == 53] == []


def test_cloud_metadata_addresses_are_never_contacted(connects):
    assert not [a for a, _ in connects if a.startswith("169.254.")]


def test_ray_processes_run_with_the_projects_ray_home_and_telemetry_off(served):
    home = served.ray_dir / "home"
    assert (home / "ray_bootstrap_config.yaml").is_file()
    dashboard_checked = False
    for proc in served.ray_processes():
        try:
            env, cmdline = proc.environ(), " ".join(proc.cmdline())
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        # Some agents are started with a trimmed environment (no HOME at all); none of them
        # reads ~/ray_bootstrap_config.yaml. Every process that has a HOME has ours.
        if "HOME" in env:
            assert env["HOME"] == str(home), proc
            assert env.get("RAY_USAGE_STATS_ENABLED") == "0", proc
        if "dashboard/dashboard.py" in cmdline:
            # The dashboard head is where the cloud-metadata probe lives (usage_stats_head).
            assert env.get("HOME") == str(home)
            dashboard_checked = True
    assert dashboard_checked, "the dashboard head process was not found"


def test_the_service_runs_throughput_optimized_with_direct_ingress(served):
    port = int(served.base_url.rsplit(":", 1)[1])
    replicas = served.replica_pids("Ingress")
    assert replicas
    for pid in replicas:
        proc = psutil.Process(pid)
        assert proc.environ().get("RAY_SERVE_THROUGHPUT_OPTIMIZED") == "1"
        # Direct ingress: each ingress replica itself listens for HTTP on the configured port
        # (serve/shared_port.py; the launcher moves Serve's proxy aside), on loopback only.
        listening = [c.laddr for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        http = [a for a in listening if a.port == port]
        assert http and all(a.ip == "127.0.0.1" for a in http), listening
        assert not [a for a in listening if 30000 <= a.port < 31000], listening
