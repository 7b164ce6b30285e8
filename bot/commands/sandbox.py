"""`socialbot sandbox`: run the local X API sandbox in the foreground."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("sandbox")
    def sandbox(
        port: int = typer.Option(8787, "--port", "-p", help="Port to listen on (0: any free port)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (keep it local)."),
        seed: int | None = typer.Option(None, "--seed", help="Seed for the fault RNG."),
    ) -> None:
        """Run the sandbox X API (v2 subset + /_sandbox/ admin API) until Ctrl-C."""
        import logging
        import signal

        from bot.commands.common import console
        from bot.sandbox.server import SandboxServer

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        server = SandboxServer(host=host, port=port, seed=seed)
        console.print(f"sandbox X API listening on {server.url}", highlight=False)
        print(server.url, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            console.print("sandbox stopped")
