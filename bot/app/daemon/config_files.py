"""What the daemon reads from disk: config.yaml (with the demo's hook), the templates as checked, and a stamp of
every file a reload depends on, to notice edits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import ConfigError

if TYPE_CHECKING:
    from bot.app.daemon.options import DaemonOptions
    from bot.settings.config import Settings

Stamp = tuple[tuple[str, float], ...]


def load_settings(options: DaemonOptions) -> Settings:
    from bot.settings.config import load_config

    settings = load_config(
        options.config_path,
        environ=options.environ,
        require_credentials=options.require_credentials,
    )
    if options.settings_hook is not None:
        settings = options.settings_hook(settings)
    return settings


def checked_templates(settings: Settings) -> dict[str, str]:
    """Check the templates as they are now and return that snapshot: the daemon renders from it, so an
    edit on disk is used only after a reload has checked it (the last good templates stay in force)."""
    from bot.adapters.templating import read_templates
    from bot.app.checking import check_settings

    sources = read_templates(Path(settings.templates_dir))
    problems = check_settings(settings, sources=sources)
    if problems:
        raise ConfigError(problems)
    return sources


def files_stamp(config_path: Path, settings: Settings | None) -> Stamp:
    """(path, mtime) of config.yaml, every file under templates/, the products CSVs and the faq file (-1:
    missing)."""
    paths: list[Path] = [config_path]
    if settings is not None:
        templates = Path(settings.templates_dir)
        if templates.is_dir():
            paths.extend(sorted(p for p in templates.rglob("*") if p.is_file()))
        paths.extend(c.products_csv for c in settings.campaigns.values() if c.products_csv)
        if settings.faq.file is not None:
            paths.append(settings.faq.file)
    stamp: list[tuple[str, float]] = []
    for path in paths:
        try:
            stamp.append((str(path), path.stat().st_mtime))
        except OSError:
            stamp.append((str(path), -1.0))
    return tuple(stamp)
