"""systemd: the notify messages as a datagram socket standing in for systemd's receives them, and the unit."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskctl.daemon.systemd import SystemdNotifier, systemd_unit, unit_name, watchdog_interval


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[socket.socket]:
    """A socket where systemd's notify socket would be."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    receiver.settimeout(10)
    yield receiver
    receiver.close()


def received(receiver: socket.socket) -> str:
    return receiver.recv(4096).decode()


def test_the_daemons_life_as_systemd_sees_it(systemd: socket.socket, tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "notify"))
    assert notifier.enabled
    assert notifier.ready("3 processes scheduled; next: nightly at 02:30")
    assert received(systemd) == "READY=1\nSTATUS=3 processes scheduled; next: nightly at 02:30"
    assert notifier.reloading(monotonic_usec=123456789)
    assert received(systemd) == "RELOADING=1\nMONOTONIC_USEC=123456789"
    assert notifier.ready()
    assert received(systemd) == "READY=1"
    assert notifier.status("2 runs running\nnext: nightly")
    assert received(systemd) == "STATUS=2 runs running next: nightly"
    assert notifier.watchdog()
    assert received(systemd) == "WATCHDOG=1"
    assert notifier.stopping("waiting up to 30 s for 2 runs")
    assert received(systemd) == "STOPPING=1\nSTATUS=waiting up to 30 s for 2 runs"
    notifier.close()


def test_reloading_reads_the_monotonic_clock_systemd_compares_with(
    systemd: socket.socket, tmp_path: Path
) -> None:
    import time

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    SystemdNotifier(str(tmp_path / "notify")).reloading()
    fields = dict(line.split("=", 1) for line in received(systemd).splitlines())
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_an_abstract_socket_address_starts_with_an_at_sign() -> None:
    name = f"taskctl-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    receiver.settimeout(10)
    try:
        assert SystemdNotifier("@" + name).ready()
        assert received(receiver) == "READY=1"
    finally:
        receiver.close()


def test_from_the_environment_and_out_of_it_for_the_scripts(tmp_path: Path) -> None:
    environ = {
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "WATCHDOG_USEC": "180000000",
        "WATCHDOG_PID": str(os.getpid()),
        "PATH": "/usr/bin",
    }
    notifier = SystemdNotifier.from_environment(environ)
    assert notifier.address == str(tmp_path / "notify")
    assert notifier.watchdog_interval == 90.0
    assert environ == {"PATH": "/usr/bin"}


def test_without_systemd_every_message_is_a_quiet_no() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_a_vanished_socket_never_stops_the_daemon(tmp_path: Path) -> None:
    assert SystemdNotifier(str(tmp_path / "gone")).ready() is False


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(environ: dict[str, str], interval: float | None) -> None:
    assert watchdog_interval(environ, pid=4242) == interval


def test_the_unit_for_a_system_service() -> None:
    unit = systemd_unit(
        Path("/srv/shop"),
        ["/opt/taskctl/bin/taskctl", "--root", "/srv/shop", "daemon"],
        user_unit=False,
        run_as="shop",
        shutdown_grace=30,
        kill_grace=10,
    )
    assert unit == (
        "# taskctl-shop.service: the taskctl daemon for /srv/shop\n"
        "# Install: taskctl systemd-unit | sudo tee /etc/systemd/system/taskctl-shop.service >/dev/null\n"
        "#          sudo systemctl daemon-reload && sudo systemctl enable --now taskctl-shop.service\n"
        "[Unit]\n"
        "Description=taskctl daemon for /srv/shop\n"
        "Wants=network-online.target\n"
        "After=network-online.target time-sync.target\n"
        "\n"
        "[Service]\n"
        "Type=notify\n"
        "NotifyAccess=main\n"
        "ExecStart=/opt/taskctl/bin/taskctl --root /srv/shop daemon\n"
        "ExecReload=kill -HUP $MAINPID\n"
        "WorkingDirectory=/srv/shop\n"
        "User=shop\n"
        "Environment=PYTHONUNBUFFERED=1\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=55\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "WatchdogSec=180\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def test_the_user_unit_runs_as_you_and_starts_with_your_session() -> None:
    unit = systemd_unit(
        Path("/home/ann/shop"),
        ["/usr/bin/taskctl", "--root", "/home/ann/shop", "daemon"],
        user_unit=True,
        run_as="ann",
        shutdown_grace=120,
        kill_grace=10,
    )
    assert "User=" not in unit
    assert "network-online" not in unit
    assert "After=time-sync.target\n" in unit
    assert "TimeoutStopSec=145\n" in unit
    assert unit.endswith("[Install]\nWantedBy=default.target\n")
    assert "# Install: taskctl systemd-unit --user > ~/.config/systemd/user/taskctl-shop.service\n" in unit


def test_odd_paths_are_quoted_and_escaped_for_systemd() -> None:
    root = Path("/srv/my shop%1")
    unit = systemd_unit(
        root, ["/opt/t$x/taskctl", "--root", str(root), "daemon"], user_unit=True, run_as=None,
        shutdown_grace=30, kill_grace=10,
    )  # fmt: skip
    assert 'ExecStart=/opt/t$$x/taskctl --root "/srv/my shop%%1" daemon\n' in unit
    assert "WorkingDirectory=/srv/my shop%%1\n" in unit
    assert unit_name(root) == "taskctl-my-shop-1.service"
