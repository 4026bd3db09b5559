"""nginx as a child process with a config of its own, made from the one template every deployment here shares.

    python -m scale_out.nginx --port 8090 --rest 127.0.0.1:8000 [--rest HOST:PORT ...] [--counter HOST:PORT ...]

puts nginx in front of servers you already run (the REST paths to --rest, the counter's to --counter, or
to --rest when none is given), until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .supervisor import Child, ChildFailed, Supervisor, handle_signals, run_directory, supervised

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
INSTALL_HINT = "install it with `apt-get install nginx` (Debian, Ubuntu) or `brew install nginx` (macOS)"
# Where package managers put nginx: /usr/sbin is often not on a normal user's PATH.
SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin", "/usr/local/bin")

# The nginx.conf around the shared template: the part that only a private nginx needs.
MAIN_CONF = """\
# A private nginx run by scale_out: in the foreground, as a child of its supervisor, writing only
# inside its own folder (never the system's /var/log/nginx or /run), with no access log.
# A WebSocket through nginx is two connections (the client's and the one to a server), and one worker
# may hold most of them: 10,000 counter clients (python -m bench.counter_load) need 20,000 in a worker.
daemon off;
worker_processes auto;
worker_rlimit_nofile 50000;
pid ${RUN_DIR}/nginx.pid;
error_log ${RUN_DIR}/error.log warn;
events {
    worker_connections 24000;
}
http {
    access_log off;
    client_body_temp_path ${RUN_DIR}/client_body;
    proxy_temp_path ${RUN_DIR}/proxy;
    fastcgi_temp_path ${RUN_DIR}/fastcgi;
    uwsgi_temp_path ${RUN_DIR}/uwsgi;
    scgi_temp_path ${RUN_DIR}/scgi;
    include ${RUN_DIR}/site.conf;
}
"""


class NginxMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"nginx is not installed: {INSTALL_HINT}")


def find_nginx() -> str | None:
    """The nginx binary: $NGINX if set, else the first on PATH or where package managers put it."""
    if "NGINX" in os.environ:
        return shutil.which(os.environ["NGINX"])
    return shutil.which("nginx") or shutil.which("nginx", path=os.pathsep.join(SEARCH_PATH))


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ${NAME} placeholders as envsubst does, and refuse to leave one empty by mistake."""
    missing = set(PLACEHOLDER.findall(template)) - set(values)
    if missing:
        raise ValueError(f"no value for {', '.join(sorted(missing))}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def server_lines(addresses: Sequence[str]) -> str:
    if not addresses:
        raise ValueError("an upstream needs at least one server")
    return "\n    ".join(f"server {address};" for address in addresses)


def site_config(listen: str, rest: Sequence[str], counter: Sequence[str] = ()) -> str:
    """The shared template for these servers: what compose's nginx gets from its environment."""
    return render(
        TEMPLATE.read_text(),
        {
            "PROXY_LISTEN": listen,
            "PROXY_REST_SERVERS": server_lines(rest),
            "PROXY_COUNTER_SERVERS": server_lines(counter or rest),
        },
    )


def write_config(run_dir: Path, listen: str, rest: Sequence[str], counter: Sequence[str] = ()) -> Path:
    (run_dir / "site.conf").write_text(site_config(listen, rest, counter))
    conf = run_dir / "nginx.conf"
    conf.write_text(render(MAIN_CONF, {"RUN_DIR": str(run_dir)}))
    return conf


def nginx_argv(binary: str, run_dir: Path) -> list[str]:
    # -e: the log nginx writes to before it has read the config (else /var/log/nginx, maybe not ours).
    return [binary, "-p", f"{run_dir}/", "-c", str(run_dir / "nginx.conf"), "-e", str(run_dir / "error.log")]


def start_nginx(
    supervisor: Supervisor, run_dir: Path, host: str, port: int, rest: Sequence[str], counter: Sequence[str] = ()
) -> Child:
    """Start nginx on host:port in front of the given servers; return once it listens."""
    binary = find_nginx()
    if binary is None:
        raise NginxMissing()
    write_config(run_dir, f"{host}:{port}", rest, counter)
    child = supervisor.start("nginx", nginx_argv(binary, run_dir), layer=2)
    try:
        supervisor.wait_tcp(child, host, port)
    except ChildFailed as error:
        log = (run_dir / "error.log").read_text(errors="replace") if (run_dir / "error.log").exists() else ""
        raise ChildFailed(f"{error}: {log.strip()[-2000:]}") from None
    return child


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scale_out.nginx", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--rest", action="append", required=True, metavar="HOST:PORT", help="a REST server")
    parser.add_argument("--counter", action="append", default=[], metavar="HOST:PORT", help="a counter server")
    args = parser.parse_args(argv)
    handle_signals()
    try:
        with run_directory() as run_dir, supervised() as supervisor:
            start_nginx(supervisor, run_dir, args.host, args.port, args.rest, args.counter)
            print(f"nginx: http://{args.host}:{args.port}/ in front of {', '.join(args.rest + args.counter)}")
            print("Ctrl-C stops it.", flush=True)
            supervisor.watch()
    except (ChildFailed, NginxMissing) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
