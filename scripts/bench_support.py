"""Shared pieces of volumed's service benchmarks (scripts/bench-api, bench-recovery, bench-scale,
profile-hot-path): configuration files with N local-directory NFS backends, starting and always
stopping real `volumed` processes, reading /proc, running wrk and parsing its figures.

Everything runs on loopback; every wait has a deadline; every process started here is stopped by
its own pid (SIGTERM, then SIGKILL after a grace period), also when a script fails.
"""
import atexit
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# VOLUMED=/path/to/volumed benchmarks another build (e.g. a copy made before a change) as is.
VOLUMED = os.environ.get("VOLUMED") or os.path.join(ROOT, ".build", "release", "volumed")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_started = []


def log(message):
    print(message, file=sys.stderr, flush=True)


def require_tools(*tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing tools: {' '.join(missing)} (apt-get install -y {' '.join(missing)})")


def build_release():
    """`swift build -c release --product volumed` unless VOLUMED names a binary, or SKIP_BUILD=1 and it exists."""
    if os.environ.get("VOLUMED") or (os.environ.get("SKIP_BUILD") == "1" and os.path.exists(VOLUMED)):
        return
    log("== swift build -c release --product volumed")
    subprocess.run(["swift", "build", "-c", "release", "--product", "volumed"], cwd=ROOT, check=True,
                   stdout=sys.stderr)


def scratch_dir(name):
    path = tempfile.mkdtemp(prefix=f"volumed-{name}-")
    if os.environ.get("KEEP_SCRATCH") != "1":
        atexit.register(shutil.rmtree, path, True)
    return path


def write_config(directory, backends, options, missing_shares=()):
    """A cinder.conf with `backends` NFS backends named nfs-0001..., each with a shares file listing
    one absolute local directory (created unless its name is in `missing_shares`). Returns the
    config path and the share directory of each backend by name."""
    names = [f"nfs-{index:04d}" for index in range(1, backends + 1)]
    shares = {}
    os.makedirs(os.path.join(directory, "shares"), exist_ok=True)
    sections = []
    for name in names:
        share = os.path.join(directory, "shares", name)
        shares[name] = share
        if name not in missing_shares:
            os.makedirs(share, exist_ok=True)
        shares_file = os.path.join(directory, "shares", name + ".shares")
        with open(shares_file, "w") as handle:
            handle.write(share + "\n")
        sections.append(f"[{name}]\nvolume_driver = cinder.volume.drivers.nfs.NfsDriver\n"
                        f"volume_backend_name = {name}\nnfs_shares_config = {shares_file}\n")
    lines = ["[DEFAULT]", "host = bench", f"enabled_backends = {','.join(names)}",
             f"state_path = {directory}/state", "osapi_volume_listen = 127.0.0.1", "osapi_volume_listen_port = 0",
             "scheduler_listen = 127.0.0.1", "scheduler_listen_port = 0"]
    lines += [f"{key} = {value}" for key, value in options.items()]
    lines += ["", "[backend_defaults]", f"nfs_mount_point_base = {directory}/mnt", ""]
    path = os.path.join(directory, "volumed.conf")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n" + "\n".join(sections))
    os.makedirs(os.path.join(directory, "state"), exist_ok=True)
    return path, shares


class Volumed:
    """One running `volumed` process (serve or scheduler) whose URL is read from its first line."""

    def __init__(self, arguments, log_path, prefix=(), deadline=120, binary=None):
        self.started_at = time.monotonic()
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(list(prefix) + [binary or VOLUMED] + arguments + ["--log-level", "warning"],
                                        stdout=subprocess.PIPE, stderr=self._log, text=True)
        _started.append(self)
        self.pid = self.process.pid
        self.url = self._read_url(deadline)
        # Whatever else it prints must never fill the pipe and block it.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def _read_url(self, deadline):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"volumed exited ({self.process.poll()}); see {self.log_path}")
            match = re.search(r"(http://[0-9.:\[\]]+)", line)
            if match:
                return match.group(1)
        raise RuntimeError(f"volumed printed no URL within {deadline} s; see {self.log_path}")

    def stop(self, grace=20):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        if self in _started:
            _started.remove(self)

    def cpu_seconds(self):
        return cpu_seconds(self.pid)

    def rss_mib(self):
        return status_field(self.pid, "VmRSS") / 1024

    def threads(self):
        return status_field(self.pid, "Threads")


def _stop_all():
    for process in list(_started):
        try:
            process.stop(grace=10)
        except Exception:  # cleanup must reach every process
            pass


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_field(pid, name):
    """A number from /proc/<pid>/status (VmRSS in KiB, Threads)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


class Client:
    """A keep-alive HTTP/1.1 client for polling (one connection, reopened after an error)."""

    def __init__(self, url, timeout=10):
        match = re.match(r"http://([^:/]+):(\d+)", url)
        self.host, self.port, self.timeout = match.group(1), int(match.group(2)), timeout
        self.connection = None

    def get(self, path, headers=None):
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request("GET", path, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def local_port(self):
        """The client port of the current connection (None when not connected)."""
        if self.connection is None or self.connection.sock is None:
            return None
        return self.connection.sock.getsockname()[1]

    def close(self):
        if self.connection is not None:
            self.connection.close()


def metric_sum(client, name, *must_contain):
    """The sum of a Prometheus family's samples at /metrics whose line contains every string given."""
    _, _, body = client.get("/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {") \
                and all(part in line for part in must_contain):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until(condition, deadline, interval=0.02, what="condition"):
    """Polls `condition` until it returns a truthy value or `deadline` seconds pass."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {deadline} s")


def wait_ready(client, deadline):
    """Until GET /readyz answers 200 (every driver `ready`)."""
    return wait_until(lambda: client.get("/readyz")[0] == 200, deadline, what="all drivers ready")


def to_ms(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(url, connections, duration, script=None, threads=1):
    """`wrk -t1 -cN -dD --latency [-s script] url`: returns a dict of req/s, p50/p99 (ms), errors and
    the command line."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency"]
    if script:
        command += ["-s", script]
    command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    result = {"command": " ".join(command), "rps": None, "p50": None, "p99": None, "errors": ""}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif parts and parts[0] == "50%":
            result["p50"] = to_ms(parts[1])
        elif parts and parts[0] == "99%":
            result["p99"] = to_ms(parts[1])
        elif "Socket errors" in line or "Non-2xx" in line:
            result["errors"] += line.strip() + " "
    return result


def if_none_match_script(directory, etag):
    """A wrk Lua script sending `If-None-Match: <etag>` with every request."""
    path = os.path.join(directory, f"inm-{abs(hash(etag))}.lua")
    with open(path, "w") as handle:
        handle.write(f'wrk.headers["If-None-Match"] = [[{etag}]]\n')
    return path


def median(values):
    return statistics.median(values) if values else float("nan")


def load_average():
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


def fmt(value, digits=2):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def print_table(header, rows):
    """A Markdown table on stdout."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if index else "---" for index in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()
