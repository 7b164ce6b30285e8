from __future__ import annotations

from bot.app.cli import main

main()
