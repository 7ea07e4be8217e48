"""The production stack (``scripts/serve-production``): nginx in front of gunicorn holds slow clients,
refuses large bodies before they are sent and writes none to disk, limits each client address (an
IPv6 client by its /64) with 429 and Retry-After, reads the client's address from trusted proxies
only and hands Django the same address it counts. Each stack runs on a free port of 127.0.0.1; the
clients come from other loopback addresses (127.0.0.0/8) to be told apart."""

from __future__ import annotations

import http.client
import ipaddress
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loadtest.cluster import free_port
from loadtest.server import ProductionStack, site_environment, start_production_stack
from site_machinery.addresses import address_bucket, parse_address

ROOT = Path(__file__).resolve().parents[2]
NGINX = Path("/usr/sbin/nginx")
PASSWORD = "a-long-correct-horse-password"
SLOW_CLIENTS = 96


def production_environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = site_environment(f"sqlite:///{data_dir / 'site.sqlite3'}", data_dir, secrets.token_urlsafe(50), conn_max_age=60)
    for inherited in ("DJANGO_ALLOW_ASYNC_UNSAFE", "CLIENT_ADDRESS_HEADER", "TRUSTED_PROXIES"):
        env.pop(inherited, None)
    env.update(overrides)
    return env


def prepare_site(env: dict[str, str]) -> None:
    script = (
        "from django.core.management import call_command; from django.contrib.auth.models import User; "
        "call_command('migrate', verbosity=0); call_command('createcachetable', verbosity=0); "
        f"User.objects.create_user('reader', password={PASSWORD!r})"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", script], cwd=ROOT, env=env, check=True, timeout=300)


def start_stack(tmp_path_factory, name: str, **overrides: str) -> ProductionStack:
    if not NGINX.exists():
        pytest.fail(f"nginx is missing from {NGINX}: run scripts/install-system-packages")
    folder = tmp_path_factory.mktemp(name)
    env = production_environment(folder / "data", **overrides)
    prepare_site(env)
    return start_production_stack(env, free_port(), 2, 4, folder / "run", folder / "serve-production.log")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    started = start_stack(tmp_path_factory, "stack")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory):
    """Small per-address limits, and a trusted proxy on 127.0.0.1 that passes X-Real-IP."""
    started = start_stack(
        tmp_path_factory, "limited", CLIENT_ADDRESS_HEADER="X-Real-IP", TRUSTED_PROXIES="127.0.0.1",
        PROXY_REQUESTS_PER_SECOND_PER_ADDRESS="1", PROXY_REQUESTS_IN_FLIGHT_PER_ADDRESS="2",
        PROXY_SIGN_INS_PER_MINUTE_PER_ADDRESS="1",
    )
    yield started
    started.stop()


def get(stack: ProductionStack, path: str, source: str = "127.0.0.1", timeout: float = 10, **headers: str):
    connection = http.client.HTTPConnection(stack.host, stack.port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Host": "127.0.0.1", **headers})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def connect(stack: ProductionStack, source: str) -> socket.socket:
    client = socket.socket()
    client.bind((source, 0))
    client.settimeout(10)
    client.connect((stack.host, stack.port))
    return client


def slow_clients(stack: ProductionStack, first_line: bytes, lines: list[bytes], stop: threading.Event) -> list[socket.socket]:
    """SLOW_CLIENTS connections from as many addresses, each sending ``first_line`` and then one of
    ``lines`` every 2 s until ``stop``."""
    clients = [connect(stack, f"127.0.1.{number + 1}") for number in range(SLOW_CLIENTS)]
    for client in clients:
        client.sendall(first_line)

    def trickle():
        for line in lines:
            if stop.wait(2):
                return
            for client in clients:
                try:
                    client.sendall(line)
                except OSError:
                    pass  # nginx closed it: its time was up

    threading.Thread(target=trickle, daemon=True).start()
    return clients


def reader_loads(stack: ProductionStack, loads: int = 5) -> list[int]:
    return [get(stack, "/accounts/login/", source="127.0.0.200")[0] for _ in range(loads)]


def test_pages_load_while_96_clients_send_their_headers_a_line_every_2_s(stack):
    stop = threading.Event()
    clients = slow_clients(stack, b"GET /accounts/login/ HTTP/1.1\r\n", [b"X-Slow: %d\r\n" % n for n in range(30)], stop)
    try:
        time.sleep(1)  # every slow client has connected and started its request
        assert reader_loads(stack) == [200] * 5
    finally:
        stop.set()
        for client in clients:
            client.close()


def test_pages_load_while_96_clients_send_a_body_slowly(stack):
    stop = threading.Event()
    head = b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
    clients = slow_clients(stack, head, [b"a=b&"] * 30, stop)
    try:
        time.sleep(1)
        assert reader_loads(stack) == [200] * 5
    finally:
        stop.set()
        for client in clients:
            client.close()


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file() and path.suffix not in (".log", ".lock", ".pid", ".sqlite3", ".sqlite3-journal")}


def read_status(client: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = client.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split()[1])


def test_a_300_mb_upload_to_the_sign_in_page_is_refused_once_declared_and_nothing_is_written(stack):
    before = files_under(stack.run_dir.parent)
    client = connect(stack, "127.0.0.7")
    try:
        client.sendall(
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 314572800\r\n\r\n"
            b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
        )
        assert read_status(client) == 413
    finally:
        client.close()
    assert files_under(stack.run_dir.parent) == before


def test_an_upload_without_a_declared_length_is_refused_after_the_limit(stack):
    before = files_under(stack.run_dir.parent)
    client = connect(stack, "127.0.0.8")
    sent = 0
    try:
        client.sendall(
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        )
        chunk = b"10000\r\n" + b"\0" * 0x10000 + b"\r\n"
        # nginx answers as soon as the body passes the limit, and reads the rest only to discard it.
        while not select.select([client], [], [], 0)[0] and sent < 300 * 1024 * 1024:
            client.sendall(chunk)
            sent += len(chunk)
        assert read_status(client) == 413
    finally:
        client.close()
    assert sent < 32 * 1024 * 1024
    assert files_under(stack.run_dir.parent) == before


def logged_line(log: Path, marker: str) -> str:
    """The access log's line of the request whose URL holds ``marker``: nginx and gunicorn write it
    after the response is sent, so it is waited for."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if marker in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no line with {marker} in {log}")


def nginx_bucket(stack: ProductionStack, marker: str) -> str:
    return logged_line(stack.run_dir / "logs" / "nginx-access.log", marker).split("[", 1)[1].split("]", 1)[0]


def bucket_text(address: str) -> str:
    """Django's bucket of ``address`` as nginx writes it: an IPv6 /64 as its four words."""
    bucket = address_bucket(parse_address(address))
    if "/" not in bucket:
        return bucket
    words = ipaddress.ip_network(bucket).network_address.exploded.split(":")[:4]
    return ":".join(format(int(word, 16), "x") for word in words)


@pytest.mark.parametrize(
    "address",
    [
        "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8::1", "2001:db8:0:0:1::",
        "2001:db8:0:5::", "2001::1:2:3:4:5", "2001::1", "::1:2:3:4:5:6", "::1:2:3:4:5", "::2", "::ffff:198.51.100.7",
        "198.51.100.7",
    ],
)
def test_nginx_counts_each_address_in_the_same_bucket_as_django(limited_stack, address):
    # Through the trusted proxy on 127.0.0.1; the access log says what nginx counted by.
    marker = secrets.token_hex(8)
    status, _, _ = get(limited_stack, f"/static/annotator/panels.js?{marker}", **{"X-Real-IP": address})
    assert status in (200, 429)
    assert nginx_bucket(limited_stack, marker) == bucket_text(address)


def test_an_address_sent_by_a_client_that_is_no_trusted_proxy_is_ignored_by_nginx_and_django(limited_stack):
    marker = secrets.token_hex(8)
    status, _, _ = get(limited_stack, f"/accounts/login/?{marker}", source="127.0.0.9", **{"X-Real-IP": "203.0.113.1"})
    assert status == 200
    assert nginx_bucket(limited_stack, marker) == "127.0.0.9"
    # The address gunicorn's access log shows is the X-Real-IP that Django reads.
    assert logged_line(limited_stack.run_dir / "logs" / "gunicorn-access.log", marker).startswith("127.0.0.9 ")


def test_a_flood_from_one_address_gets_429_with_retry_after_and_another_address_is_served(limited_stack):
    statuses, retry_after = [], set()

    def ask():
        status, headers, _ = get(limited_stack, "/static/annotator/panels.js", **{"X-Real-IP": "2001:db8:aa:1::1"})
        statuses.append(status)
        if status == 429:
            retry_after.add(headers.get("Retry-After"))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 429} and 429 in statuses
    assert retry_after == {"1"}
    assert get(limited_stack, "/static/annotator/panels.js", **{"X-Real-IP": "2001:db8:bb:1::1"})[0] == 200


def unfinished_post(stack: ProductionStack, address: str, path: str = "/accounts/login/") -> socket.socket:
    """A request whose headers are in and whose body never comes: it counts as being answered."""
    client = connect(stack, "127.0.0.1")
    client.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Real-IP: {address}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n".encode()
    )
    return client


def test_requests_in_flight_beyond_an_addresss_limit_are_refused(limited_stack):
    held = [unfinished_post(limited_stack, "198.51.100.20", path="/") for _ in range(2)]
    try:
        time.sleep(0.5)  # nginx has read both requests' headers
        assert get(limited_stack, "/", **{"X-Real-IP": "198.51.100.20"})[0] == 429
        assert get(limited_stack, "/accounts/login/", **{"X-Real-IP": "198.51.100.21"})[0] == 200
    finally:
        for client in held:
            client.close()


def test_sign_ins_from_one_address_queue_and_beyond_the_queue_are_refused(limited_stack):
    # One sign-in a minute, a queue of one: the first is answered, the second waits, the third is refused.
    form = "username=reader&password=wrong"
    answered = connect(limited_stack, "127.0.0.1")
    waiting = connect(limited_stack, "127.0.0.1")
    refused = connect(limited_stack, "127.0.0.1")
    try:
        for client in (answered, waiting, refused):
            client.sendall(
                f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Real-IP: 198.51.100.30\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n{form}".encode()
            )
            if client is answered:
                assert read_status(client) == 403  # no CSRF token: Django's answer, not nginx's
        assert read_status(refused) == 429
        # Another address signs in meanwhile.
        assert get(limited_stack, "/accounts/login/", **{"X-Real-IP": "198.51.100.31"})[0] == 200
    finally:
        for client in (answered, waiting, refused):
            client.close()


def test_a_second_stack_on_the_same_run_folder_is_refused(stack):
    env = production_environment(stack.run_dir.parent / "data")
    result = subprocess.run(
        [str(ROOT / "scripts" / "serve-production"), str(free_port()), "--run-dir", str(stack.run_dir)],
        env={**env, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "another scripts/serve-production uses" in result.stderr


def test_it_refuses_to_start_without_production_settings(tmp_path):
    env = {**production_environment(tmp_path / "data"), "DEBUG": "1", "PYTHON": sys.executable}
    result = subprocess.run(
        [str(ROOT / "scripts" / "serve-production"), str(free_port())], env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "set DEBUG=0" in result.stderr


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_nginx_and_gunicorn(tmp_path_factory):
    started = start_stack(tmp_path_factory, "stopped")
    servers = [pid for pid in (started.gunicorn_pid(), *started.worker_pids()) if pid]
    nginx = int((started.run_dir / "nginx.pid").read_text())
    try:
        started.process.send_signal(signal.SIGTERM)
        assert started.process.wait(60) == 0
    finally:
        started.stop()
    assert servers and not any(is_running(pid) for pid in [*servers, nginx])
