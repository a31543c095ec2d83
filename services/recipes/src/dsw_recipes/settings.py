"""Settings of the recipes service (``DSW_RECIPES_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dsw_kit.sandbox import SandboxSetting
from dsw_kit.settings import ServiceSettings

MIB = 1024 * 1024


class RecipesSettings(ServiceSettings):
    """Recipes settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_RECIPES_", extra="ignore")

    service: str = "recipes"
    port: int = 8102
    max_package_bytes: int = Field(
        20 * MIB, description="Largest recipe archive an upload may carry (compressed)"
    )
    max_unpacked_bytes: int = Field(
        100 * MIB, description="Largest total size of the files a package unpacks to"
    )
    max_package_entries: int = Field(
        2000, description="Most files and folders a package (archive or git tree) may hold"
    )
    git_allowed_schemes: list[str] = Field(
        default_factory=lambda: ["https"],
        description="URL schemes git import accepts (default https; add file only for tests)",
    )
    git_allowed_hosts: list[str] = Field(
        default_factory=lambda: ["github.com", "gitlab.com", "bitbucket.org"],
        description="Hosts git import may fetch from over https (default github.com, gitlab.com, "
        "bitbucket.org; '*' allows any)",
    )
    git_allow_private_addresses: bool = Field(
        False, description="Allow https git hosts that resolve to loopback/private addresses"
    )
    git_timeout_seconds: float = Field(60.0, description="Time limit of one git import")
    smoke_timeout_seconds: float = Field(
        120.0, description="Wall-clock limit of a smoke run's child process"
    )
    smoke_memory_bytes: int = Field(
        4096 * MIB, description="Address-space limit (RLIMIT_AS) of a smoke run's child process"
    )
    smoke_output_lines: int = Field(40, description="Last lines of output kept on a version")
    smoke_builtins: bool = Field(
        True, description="Smoke-run the built-in recipes when they are registered at start-up"
    )
    smoke_lease_seconds: float = Field(30.0, description="Lease of a version being smoke-run")
    smoke_max_attempts: int = Field(2, description="Smoke-run attempts before a version fails")
    smoke_poll_seconds: float = Field(2.0, description="How often idle smoke workers look for work")
    sandbox: SandboxSetting = Field(
        "auto",
        description="Where smoke runs execute recipe code: bwrap (no network, only the run's "
        "files; refuse to start without it), none (no isolation: trusted code only) or auto "
        "(bwrap when it works on this host, else none with a warning)",
    )
    sandbox_max_processes: int = Field(
        256, description="Processes and threads a sandboxed smoke run may have (pids cgroup)"
    )
