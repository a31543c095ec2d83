"""Importing a package from a git repository: URL checks, then a shallow fetch with the git CLI.

Only the configured schemes are accepted (https; file:// only when a setting allows it, for
tests), https hosts must be in the allowed list and must not resolve to loopback, private,
link-local or otherwise internal addresses (unless allowed), redirects are not followed, and
git runs with a scrubbed environment, no prompts, no system or user configuration, no hooks and
no LFS, under a time limit.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")


class GitImportError(ValueError):
    """The import is refused or failed; ``code`` is the problem's stable code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class GitPolicy:
    """Where git import may fetch from."""

    schemes: tuple[str, ...]
    hosts: tuple[str, ...]
    allow_private_addresses: bool
    timeout_seconds: float


def check_url(url: str, policy: GitPolicy) -> None:
    """Refuse URLs outside the policy (scheme, host, internal addresses, credentials)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        allowed = ", ".join(policy.schemes) or "none"
        raise GitImportError(
            f"scheme {scheme or '(none)'!r} is not allowed for git import (allowed: {allowed})",
            code="git_scheme_not_allowed",
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise GitImportError("file URLs must name a local path", code="git_url_invalid")
        return
    if parts.username or parts.password:
        raise GitImportError("credentials in git URLs are not accepted", code="git_url_invalid")
    host = (parts.hostname or "").lower()
    if not host:
        raise GitImportError("the git URL has no host", code="git_url_invalid")
    if "*" not in policy.hosts and host not in policy.hosts:
        raise GitImportError(
            f"host {host!r} is not allowed for git import", code="git_host_not_allowed"
        )
    if not policy.allow_private_addresses:
        _refuse_internal(host, parts.port or 443)


def _refuse_internal(host: str, port: int) -> None:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port)}
    except (socket.gaierror, UnicodeError) as error:
        raise GitImportError(f"cannot resolve {host!r}", code="git_host_unresolvable") from error
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_multicast
            or ip.is_unspecified
        ):
            raise GitImportError(
                f"host {host!r} resolves to an internal address ({ip})",
                code="git_host_not_allowed",
            )


def check_ref(ref: str) -> None:
    """A branch, tag or commit name that git cannot read as an option or a path trick."""
    if not _REF.match(ref) or ".." in ref or ref.endswith((".lock", "/")) or "//" in ref:
        raise GitImportError(f"invalid git ref {ref!r}", code="git_ref_invalid")


def fetch(url: str, ref: str, destination: Path, policy: GitPolicy) -> str:
    """Check out ``ref`` of ``url`` into the empty folder ``destination``; the commit id."""
    check_ref(ref)
    check_url(url, policy)
    home = destination.parent / "git-home"
    home.mkdir(exist_ok=True)
    protocols = ":".join(policy.schemes)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": protocols,
        "GIT_LFS_SKIP_SMUDGE": "1",
        "LANG": "C",
    }
    options = [
        "-c", "core.hooksPath=/dev/null",
        "-c", "core.symlinks=false",
        "-c", "http.followRedirects=false",
        "-c", "protocol.allow=never",
        *(item for scheme in policy.schemes for item in ("-c", f"protocol.{scheme}.allow=always")),
    ]  # fmt: skip

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *options, *args],
                cwd=destination,
                env=env,
                capture_output=True,
                text=True,
                timeout=policy.timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise GitImportError(
                f"git did not finish within {policy.timeout_seconds:g} s", code="git_timeout"
            ) from error
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise GitImportError(f"git {args[0]} failed: {tail}", code="git_fetch_failed")
        return done.stdout.strip()

    git("init", "--quiet", ".")
    git("fetch", "--quiet", "--depth", "1", "--no-tags", "--", url, ref)
    links = [
        line.split("\t", 1)[-1]
        for line in git("ls-tree", "-r", "--full-tree", "FETCH_HEAD").splitlines()
        if line.startswith(("120000", "160000"))
    ]
    if links:
        raise GitImportError(
            "symbolic links and submodules are not allowed: " + ", ".join(links[:5]),
            code="link_in_archive",
        )
    git("checkout", "--quiet", "--detach", "FETCH_HEAD")
    return git("rev-parse", "HEAD")
