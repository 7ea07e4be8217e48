"""The production stack, ``scripts/serve-production PORT``: nginx in front of gunicorn, started,
watched and stopped together, configured from the environment's Django settings.

Why nginx: a gunicorn thread holds a request from its first byte to its last, so 96 clients that
send their headers a line every 2 s hold every thread and nobody else is served (gunicorn's own
documentation asks for a buffering proxy in front). nginx reads each request whole, within time
limits, before gunicorn sees it, and writes each answer out to the client itself; gunicorn's threads
only ever serve complete requests and are free as soon as the answer is made. nginx also:

- refuses a request body over ``MAX_REQUEST_BODY_BYTES`` (1 MiB) as soon as it is declared or sent,
  and keeps bodies up to that size in memory: nothing a client sends is written to disk;
- limits each client address (an IPv6 client by its /64): requests being answered at once, requests
  per second and sign-in attempts per minute; and each session cookie's requests per second
  (``PROXY_...`` settings), answering 429 with Retry-After, before any Python runs. A session's
  requests in flight are counted by the site (``site_machinery.floods``);
- reads the client's address from ``CLIENT_ADDRESS_HEADER`` of the ``TRUSTED_PROXIES`` in front of it
  (its realip module) and hands it to Django in X-Real-IP, over a unix socket that only it can
  reach: gunicorn runs with ``CLIENT_ADDRESS_HEADER=X-Real-IP`` and ``TRUSTED_PROXIES=unix``, so the
  sign-in throttle and nginx's limits count the same addresses;
- says whether the request came over HTTPS in X-Forwarded-Proto (its own scheme, or that of a
  trusted proxy in front), the only header Django reads for it here;
- serves the static files from ``STATIC_ROOT`` (collected at start).

Everything lives in a run folder (``--run-dir``, default ``DATA_DIR/run``): the nginx configuration,
pid file and temporary folders, gunicorn's socket, and the access logs of both (``logs/``). Errors of
nginx, gunicorn and the site go to stderr. nginx runs as the current user from that folder
(``-p``/``-c``/``-e``), so no root is needed and no system nginx or its configuration is touched.
SIGUSR1 makes both reopen their logs (after log rotation); SIGTERM or Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import fcntl
import getpass
import grp
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
# gunicorn kills a worker whose request runs longer than this; nginx waits longer for an answer.
WORKER_TIMEOUT_S = 30
# A client must send its request's headers within this time, and no more than this between two
# reads of its body; nginx must be able to write to it at least that often.
CLIENT_TIMEOUT_S = 10
# A request burst of this many seconds' worth of the per-address rate is let through or queued.
BURST_SECONDS = 4
UNIX_SOCKET_PATH_MAX = 107
SIGN_IN_PATHS = ("/accounts/login/", "/admin/login/")


class StackError(RuntimeError):
    """The stack cannot start as configured; the message says what to change."""


@dataclass(frozen=True)
class Proxying:
    """What nginx needs from the site's settings."""

    static_url: str
    static_root: Path
    max_body_bytes: int
    session_cookie: str
    client_address_header: str
    trusted_proxies: tuple[str, ...]
    requests_in_flight_per_address: int
    requests_per_second_per_address: int
    requests_per_second_per_session: int
    sign_ins_per_minute_per_address: int

    @classmethod
    def from_settings(cls) -> "Proxying":
        from django.conf import settings

        if not re.fullmatch(r"[A-Za-z0-9_]+", settings.SESSION_COOKIE_NAME):
            # nginx reads the cookie as the variable $cookie_<name>.
            raise StackError(f"SESSION_COOKIE_NAME={settings.SESSION_COOKIE_NAME!r}: nginx needs letters, digits and _ only")
        return cls(
            static_url="/" + settings.STATIC_URL.strip("/") + "/",
            static_root=Path(settings.STATIC_ROOT),
            max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
            session_cookie=settings.SESSION_COOKIE_NAME,
            client_address_header=settings.CLIENT_ADDRESS_HEADER,
            trusted_proxies=tuple(settings.TRUSTED_PROXIES),
            requests_in_flight_per_address=settings.PROXY_REQUESTS_IN_FLIGHT_PER_ADDRESS,
            requests_per_second_per_address=settings.PROXY_REQUESTS_PER_SECOND_PER_ADDRESS,
            requests_per_second_per_session=settings.PROXY_REQUESTS_PER_SECOND_PER_SESSION,
            sign_ins_per_minute_per_address=settings.PROXY_SIGN_INS_PER_MINUTE_PER_ADDRESS,
        )


# $remote_addr as nginx prints an IPv6 address (lower-case hexadecimal words without leading zeros,
# the first longest run of two or more zero words as "::") to its /64, the first four words, written
# out in full so that every address of a /64 gives the same text: which words of the prefix the
# "::" stands for depends on how many words come before and after it. IPv4 addresses stay as they
# are, IPv4-mapped IPv6 ones become the IPv4 address (as in site_machinery.addresses).
WORD = "[0-9a-f]+"
IPV6_BUCKETS = [
    (rf"^::ffff:(?<v4>[0-9.]+)$", "$v4"),
    (rf"^(?<p>{WORD}:{WORD}:{WORD}:{WORD}):", "$p"),
    (rf"^(?<p>{WORD}:{WORD}:{WORD})::", "$p:0"),
    (rf"^(?<p>{WORD}:{WORD})::", "$p:0:0"),
    (rf"^(?<p>{WORD})::(?<q>{WORD})(:{WORD}){{4}}$", "$p:0:0:$q"),
    (rf"^(?<p>{WORD})::", "$p:0:0:0"),
    (rf"^::(?<q>{WORD}):(?<r>{WORD})(:{WORD}){{4}}$", "0:0:$q:$r"),
    (rf"^::(?<q>{WORD})(:{WORD}){{4}}$", "0:0:0:$q"),
    (r"^::", "0:0:0:0"),
]


def _rate_limits(proxying: Proxying) -> str:
    """The per-address and per-session request limits, with ``{indent}`` before the second line.

    A page's burst of requests (its panels, the next case's) passes at once; a longer one is slowed
    to the rate, then refused. Repeated in each location that has limits of its own."""
    rate = proxying.requests_per_second_per_address
    session_rate = proxying.requests_per_second_per_session
    return (
        f"limit_req zone=address_requests burst={rate * BURST_SECONDS} delay={rate * BURST_SECONDS // 2};\n"
        f"{{indent}}limit_req zone=session_requests burst={session_rate * BURST_SECONDS} delay={session_rate * BURST_SECONDS // 2};"
    )


def _real_ip(proxying: Proxying) -> str:
    """Where nginx reads the client's address: from the trusted proxies in front only, or the peer."""
    if not proxying.client_address_header:
        return "    # No proxy in front (CLIENT_ADDRESS_HEADER unset): the client is the connection's peer."
    return "\n".join(
        [*(f"    set_real_ip_from {'unix:' if proxy == 'unix' else proxy};" for proxy in proxying.trusted_proxies),
         f"    real_ip_header {proxying.client_address_header};",
         "    real_ip_recursive on;"]
    )


def _sign_in_locations(proxying: Proxying) -> str:
    """A location per sign-in page, with the sign-in rate per address besides the request limits."""
    sign_ins = proxying.sign_ins_per_minute_per_address
    return "\n".join(
        f"""        location = {path} {{
            {_rate_limits(proxying).format(indent=' ' * 12)}
            # Half a minute's worth of sign-in attempts pass at once (a class signing in together
            # behind one address); more wait in the queue, a minute's worth, rather than all hashing
            # passwords at once; beyond it they are refused.
            limit_req zone=address_sign_ins burst={sign_ins}{f" delay={sign_ins // 2}" if sign_ins >= 2 else ""};
            proxy_pass http://site;
        }}"""
        for path in SIGN_IN_PATHS
    )


def nginx_configuration(
    proxying: Proxying, listen: str, port: int, run_dir: Path, mime_types: Path, run_as: tuple[str, str] | None
) -> str:
    """The whole nginx.conf of the stack."""
    rate = proxying.requests_per_second_per_address
    session_rate = proxying.requests_per_second_per_session
    sign_ins = proxying.sign_ins_per_minute_per_address
    rate_limits = _rate_limits(proxying)
    listen_address = f"[{listen}]" if ":" in listen else listen
    buckets = "\n".join(f'        "~{pattern}" {value};' for pattern, value in IPV6_BUCKETS)
    real_ip = _real_ip(proxying)
    trusted = [proxy for proxy in proxying.trusted_proxies if proxy != "unix"]
    trusted_geo = "\n".join(f"        {proxy} 1;" for proxy in trusted)
    sign_in_locations = _sign_in_locations(proxying)
    user = f"user {run_as[0]} {run_as[1]};\n" if run_as else ""
    return f"""# Written by scripts/serve-production at each start; changes here are lost.
{user}worker_processes auto;
worker_rlimit_nofile 8192;
pid {run_dir / 'nginx.pid'};
error_log stderr warn;
daemon off;

events {{
    worker_connections 4096;
}}

http {{
    include {mime_types};
    default_type application/octet-stream;
    server_tokens off;
    sendfile on;

    client_body_temp_path {run_dir / 'tmp' / 'client_body'};
    proxy_temp_path {run_dir / 'tmp' / 'proxy'};
    fastcgi_temp_path {run_dir / 'tmp' / 'fastcgi'};
    uwsgi_temp_path {run_dir / 'tmp' / 'uwsgi'};
    scgi_temp_path {run_dir / 'tmp' / 'scgi'};

    # Slow clients: nginx holds them, not gunicorn.
    client_header_timeout {CLIENT_TIMEOUT_S}s;
    client_body_timeout {CLIENT_TIMEOUT_S}s;
    send_timeout {CLIENT_TIMEOUT_S}s;
    keepalive_timeout 15s;
    # After refusing a request, what the client still sends is read (and dropped) this long at most.
    lingering_time {CLIENT_TIMEOUT_S}s;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 8k;
    # Bodies over the limit are refused once declared or read; the rest stay in memory.
    client_max_body_size {proxying.max_body_bytes};
    client_body_buffer_size {proxying.max_body_bytes};

    # The client's address, from the trusted proxies in front only.
{real_ip}

    # What per-address limits count: an IPv6 client's /64.
    map $remote_addr $address_bucket {{
{buckets}
        default $remote_addr;
    }}
    map $request_method $sign_in_bucket {{
        POST $address_bucket;
        default "";
    }}
    geo $realip_remote_addr $from_trusted_proxy {{
        default 0;
{trusted_geo}
    }}
    map "$from_trusted_proxy:$http_x_forwarded_proto" $forwarded_proto {{
        "1:https" https;
        "1:http" http;
        default $scheme;
    }}

    limit_conn_zone $address_bucket zone=address_connections:10m;
    limit_req_zone $address_bucket zone=address_requests:10m rate={rate}r/s;
    limit_req_zone $cookie_{proxying.session_cookie} zone=session_requests:10m rate={session_rate}r/s;
    limit_req_zone $sign_in_bucket zone=address_sign_ins:10m rate={sign_ins}r/m;
    limit_conn_status 429;
    limit_req_status 429;
    # One line per refusal would flood the error log in a flood; the access log has each (429).
    limit_conn_log_level info;
    limit_req_log_level info;

    log_format site '$remote_addr [$address_bucket] - [$time_local] "$request" $status $body_bytes_sent '
                    '"$http_referer" "$http_user_agent" $request_time $upstream_response_time';
    access_log {run_dir / 'logs' / 'nginx-access.log'} site;

    upstream site {{
        server unix:{run_dir / 'gunicorn.sock'};
        keepalive 16;
    }}

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For "";
    proxy_set_header X-Forwarded-Proto $forwarded_proto;
    proxy_connect_timeout 5s;
    proxy_read_timeout {WORKER_TIMEOUT_S + 30}s;
    proxy_send_timeout {WORKER_TIMEOUT_S + 30}s;
    proxy_buffers 32 64k;

    server {{
        listen {listen_address}:{port};
        server_name _;
        limit_conn address_connections {proxying.requests_in_flight_per_address};
        {rate_limits.format(indent=' ' * 8)}

        error_page 413 @too_large;
        error_page 429 @too_many;

        location {proxying.static_url} {{
            alias {proxying.static_root}/;
            add_header Cache-Control "public, max-age=60";
            add_header X-Content-Type-Options nosniff;
        }}

{sign_in_locations}

        location / {{
            proxy_pass http://site;
        }}

        location @too_large {{
            default_type "text/plain; charset=utf-8";
            return 413 "The request is larger than this site accepts ({proxying.max_body_bytes} bytes).\\n";
        }}

        location @too_many {{
            default_type "text/plain; charset=utf-8";
            add_header Retry-After 1 always;
            return 429 "Too many requests at once from this browser or its address. Ask again in a second.\\n";
        }}
    }}
}}
"""


def find_nginx() -> Path:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise StackError("nginx is not installed: run scripts/install-system-packages (Debian package nginx)")
    return Path(found)


def mime_types_of(nginx: Path) -> Path:
    """The mime.types file beside the nginx package's own configuration."""
    built = subprocess.run([str(nginx), "-V"], capture_output=True, text=True).stderr
    match = re.search(r"--conf-path=(\S+)", built)
    folder = Path(match[1]).parent if match else Path("/etc/nginx")
    if not (folder / "mime.types").is_file():
        raise StackError(f"nginx's mime.types is not in {folder}: reinstall the nginx package")
    return folder / "mime.types"


def host_for_requests() -> str:
    """A Host header the site accepts, for the readiness check."""
    from django.conf import settings

    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


@dataclass
class Stack:
    """The two servers, each in its own process group."""

    nginx: subprocess.Popen
    gunicorn: subprocess.Popen
    listen: str
    port: int
    run_dir: Path

    def processes(self) -> list[subprocess.Popen]:
        return [self.nginx, self.gunicorn]

    def reopen_logs(self) -> None:
        for process in self.processes():
            if process.poll() is None:
                process.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        """nginx first (it stops taking requests and finishes those under way), then gunicorn.
        Safe to call twice."""
        self.stop_process(self.nginx, signal.SIGQUIT)
        self.stop_process(self.gunicorn, signal.SIGTERM)

    @staticmethod
    def stop_process(process: subprocess.Popen, graceful: signal.Signals) -> None:
        """The graceful signal, then SIGKILL to what is left of its process group."""
        if process.poll() is None:
            process.send_signal(graceful)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def prepare_run_dir(run_dir: Path) -> None:
    """The run folder with its subfolders, only for this user, locked against a second stack using
    it for as long as this process lives."""
    for folder in (run_dir, run_dir / "logs", *(run_dir / "tmp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))):
        folder.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)
    if len(str(run_dir / "gunicorn.sock")) > UNIX_SOCKET_PATH_MAX:
        raise StackError(f"--run-dir {run_dir}: too long a path for a unix socket; choose a shorter one")
    descriptor = os.open(run_dir / "serve-production.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise StackError(f"another scripts/serve-production uses {run_dir}: stop it, or give --run-dir") from None


def gunicorn_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=env.get("DJANGO_SETTINGS_MODULE", "config.settings"),
        # nginx has read the address from the proxies in front; Django believes only nginx.
        CLIENT_ADDRESS_HEADER="X-Real-IP",
        TRUSTED_PROXIES="unix",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    return env


def start(args: argparse.Namespace) -> Stack:
    from django.conf import settings
    from django.core.management import call_command

    if settings.DEBUG:
        raise StackError("serve-production runs the site as in production: set DEBUG=0, SECRET_KEY and ALLOWED_HOSTS")
    nginx = find_nginx()
    run_dir = Path(args.run_dir or Path(settings.DATA_DIR) / "run").resolve()
    prepare_run_dir(run_dir)
    call_command("collectstatic", interactive=False, verbosity=0)
    run_as = (getpass.getuser(), grp.getgrgid(os.getgid()).gr_name) if os.geteuid() == 0 else None
    configuration = run_dir / "nginx.conf"
    configuration.write_text(
        nginx_configuration(Proxying.from_settings(), args.listen, args.port, run_dir, mime_types_of(nginx), run_as)
    )
    nginx_command = [str(nginx), "-p", str(run_dir), "-c", str(configuration), "-e", "stderr"]
    tested = subprocess.run([*nginx_command, "-t", "-q"], capture_output=True, text=True)
    if tested.returncode != 0:
        raise StackError(f"nginx refused the configuration {configuration}:\n{tested.stderr.strip()}")
    gunicorn = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"unix:{run_dir / 'gunicorn.sock'}",
            # Loaded once in the master and forked: the site imports PyTorch, slow to import per worker.
            "--preload", "--worker-class", "gthread", "--workers", str(args.workers), "--threads", str(args.threads),
            "--timeout", str(WORKER_TIMEOUT_S), "--graceful-timeout", "10", "--keep-alive", "20",
            "--no-control-socket",
            "--access-logfile", str(run_dir / "logs" / "gunicorn-access.log"),
            "--access-logformat", '%({x-real-ip}i)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms',
            "--error-logfile", "-", "--log-level", "warning",
        ],
        cwd=REPOSITORY, env=gunicorn_environment(), stdin=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        wait_for("gunicorn", gunicorn, lambda: socket_accepts(run_dir / "gunicorn.sock"), deadline)
        nginx_process = subprocess.Popen(nginx_command, stdin=subprocess.DEVNULL, start_new_session=True)
    except BaseException:
        Stack.stop_process(gunicorn, signal.SIGTERM)
        raise
    stack = Stack(nginx=nginx_process, gunicorn=gunicorn, listen=args.listen, port=args.port, run_dir=run_dir)
    try:
        wait_for("nginx", nginx_process, lambda: site_answers(args.listen, args.port), deadline)
    except BaseException:
        stack.stop()
        raise
    return stack


def socket_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def site_answers(listen: str, port: int) -> bool:
    """Whether the site answers through nginx: anything but nginx's own 502 (no answer from gunicorn)."""
    try:
        connection = http.client.HTTPConnection(listen, port, timeout=10)
        connection.request("GET", SIGN_IN_PATHS[0], headers={"Host": host_for_requests()})
        status = connection.getresponse().status
        connection.close()
    except OSError:
        return False
    return status != 502


def wait_for(name: str, process: subprocess.Popen, ready, deadline: float) -> None:
    while not ready():
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode} while starting (its errors are above)")
        if time.monotonic() > deadline:
            raise StackError(f"{name} did not start within {START_TIMEOUT_S} s")
        time.sleep(0.2)


def serve(stack: Stack) -> int:
    """Until a signal to stop, or until either server exits (then the other is stopped too)."""
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda signum, frame: stack.reopen_logs())
    try:
        while not stopping:
            for name, process in (("nginx", stack.nginx), ("gunicorn", stack.gunicorn)):
                if process.poll() is not None:
                    print(f"serve-production: {name} exited with {process.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    finally:
        stack.stop()
    return 0


def listen_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def port_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/serve-production",
        description="Serve the site as in production: nginx on ADDRESS:PORT in front of gunicorn, with the "
        "environment's settings (DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, ...).",
    )
    parser.add_argument("port", type=port_number, metavar="PORT")
    parser.add_argument("--listen", type=listen_address, default="127.0.0.1", metavar="ADDRESS",
                        help="the address nginx listens on (default 127.0.0.1)")
    parser.add_argument("--run-dir", type=Path, metavar="DIR",
                        help="configuration, pid, socket, temporary files and access logs (default DATA_DIR/run)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (default 8)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
        stack = start(args)
    except (StackError, ImproperlyConfigured) as error:
        print(f"serve-production: {error}", file=sys.stderr)
        return 2
    host = f"[{args.listen}]" if ":" in args.listen else args.listen
    print(
        f"serve-production: serving on http://{host}:{args.port}/ : nginx (pid {stack.nginx.pid}) in front of "
        f"gunicorn ({args.workers} workers x {args.threads} threads, pid {stack.gunicorn.pid}) on "
        f"{stack.run_dir / 'gunicorn.sock'}; access logs in {stack.run_dir / 'logs'}, errors here. "
        "Ctrl-C or SIGTERM stops both, SIGUSR1 reopens the logs.",
        flush=True,
    )
    return serve(stack)


if __name__ == "__main__":
    sys.exit(main())
