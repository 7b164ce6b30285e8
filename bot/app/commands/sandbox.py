"""`socialbot sandbox`: run the local X API sandbox in the foreground."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("sandbox")
    def sandbox(
        port: int = typer.Option(8787, "--port", "-p", help="Port to listen on (0: any free port)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (keep it local)."),
        seed: int | None = typer.Option(None, "--seed", help="Seed for the fault RNG."),
        audience: float = typer.Option(
            0.0, "--audience", metavar="RATE", help="Run a simulated audience at RATE actions/s (0: none)."
        ),
        audience_shop: str = typer.Option(
            "lumenhome", "--audience-shop", help="Handle of the shop the simulated audience talks to."
        ),
        audience_seed: int = typer.Option(7, "--audience-seed", help="Seed of the simulated audience."),
    ) -> None:
        """Run the sandbox X API (v2 subset + /_sandbox/ admin API) until Ctrl-C."""
        import logging
        import signal

        from bot.app.commands.common import console
        from bot.sandbox.server import SandboxServer

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        server = SandboxServer(host=host, port=port, seed=seed)
        console.print(f"sandbox X API listening on {server.url}", highlight=False)
        print(server.url, flush=True)
        crowd = None
        if audience > 0:
            from bot.sandbox.audience import Audience

            logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per audience action otherwise
            crowd = Audience(server.url, audience_shop, seed=audience_seed).start_background(audience)
            console.print(f"simulated audience: {audience:g} actions/s at @{audience_shop}", highlight=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            if crowd is not None:
                crowd.close()
            server.stop()
            console.print("sandbox stopped")
