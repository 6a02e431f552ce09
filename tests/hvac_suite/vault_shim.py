"""`vault` as hvac's own test suite calls it, played by Coffer or OpenBao.

The harness (harness.py) puts a two-line `vault` script first on PATH that runs this
file with the interpreter of the test run.  hvac's tests call `vault` in three ways:

  vault -version                      (tests/utils: version gates such as vault_version_ge)
  vault server -config=<file.json>    (tests/utils/server_manager.py, one per test class)
  vault operator generate-root -address .. -tls-skip-verify -decode <t> -otp <otp>

Environment (set by the harness):
  HVAC_SHIM_TARGET      "coffer" or "bao"
  HVAC_SHIM_SERVER_BIN  the binary to run
  HVAC_SHIM_LOG_DIR     where each server's stdout+stderr go (one file per server)

`server` is exec'd in place (same pid), so ServerManager.stop()'s kill() stops the real
server.  Its output goes to a log file, not to the pipes ServerManager opens and never
reads (a chatty server would otherwise block on a full pipe).
"""

from __future__ import annotations

import base64
import os
import sys
import time

# The Vault version the shim reports.  hvac's tests only gate on versions up to 1.16.1
# (`vault_version_eq("1.16.1")` skips one jwt test); every gate below 1.12 takes the
# modern branch with this value, as it does for OpenBao 2.x (forked from Vault 1.14).
REPORTED_VERSION = "1.14.0"


def _decode_generated_root(encoded: str, otp: str) -> str:
    """What `vault operator generate-root -decode` prints: the encoded token XOR the OTP.
    Since Vault 1.10 the encoded token is base64 (raw, unpadded) of that XOR."""
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    if len(raw) != len(otp):
        raise SystemExit(f"vault shim: -decode: encoded token is {len(raw)} bytes, otp is {len(otp)}")
    return bytes(a ^ b for a, b in zip(raw, otp.encode())).decode()


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        for prefix in (f"-{name}=", f"--{name}="):
            if a.startswith(prefix):
                return a[len(prefix):]
        if a in (f"-{name}", f"--{name}") and i + 1 < len(args):
            return args[i + 1]
    return None


def main(argv: list[str]) -> int:
    target = os.environ.get("HVAC_SHIM_TARGET", "")
    binary = os.environ.get("HVAC_SHIM_SERVER_BIN", "")
    if target not in ("coffer", "bao") or not binary:
        print("vault shim: HVAC_SHIM_TARGET and HVAC_SHIM_SERVER_BIN must be set", file=sys.stderr)
        return 2
    if not argv or argv[0] in ("-version", "--version", "version", "-v"):
        print(f"Vault v{REPORTED_VERSION} ({target} through the hvac-suite shim)")
        return 0
    if argv[0] == "server":
        log_dir = os.environ.get("HVAC_SHIM_LOG_DIR") or "."
        os.makedirs(log_dir, exist_ok=True)
        log_path = os.path.join(log_dir, f"server-{time.time_ns()}-{os.getpid()}.log")
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "w", closefd=False) as f:
            f.write(f"# {target}: {' '.join(argv)}\n")
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        # Arguments pass through as they are: both servers take `-config=<file>`, and the
        # config hvac writes (JSON from tests/config_files/vault-tls.hcl) is read by both.
        os.execv(binary, [binary, *argv])
    if argv[:2] == ["operator", "generate-root"] and "-decode" in argv:
        if target == "bao":
            os.execv(binary, [binary, *argv])
        encoded, otp = _flag(argv, "decode"), _flag(argv, "otp")
        if not encoded or not otp:
            print("vault shim: generate-root -decode needs -decode and -otp", file=sys.stderr)
            return 2
        print(_decode_generated_root(encoded, otp))
        return 0
    print(f"vault shim: not supported for {target}: vault {' '.join(argv)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
