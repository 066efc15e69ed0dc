"""``kith dkim keygen PATH`` and ``kith dkim dns``: the key and the record to publish."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.sending.signing import DKIMSigner, SigningError, new_private_key, public_key_record


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys and the DNS record that publishes them."""


@dkim_group.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keygen(path: Path) -> None:
    """Write a new RSA-2048 private key to PATH (mode 600); an existing file is kept."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; refusing to overwrite a key") from None
    except OSError as error:
        raise click.ClickException(f"cannot write {path}: {error.strerror}") from error
    with os.fdopen(fd, "wb") as handle:
        handle.write(new_private_key())
    click.echo(f"wrote {path}; set DKIM_PRIVATE_KEY_PATH={path} and DKIM_SELECTOR, then run "
               "`kith dkim dns`")  # fmt: skip


@dkim_group.command("dns")
@with_appcontext
def dns() -> None:
    """Print the TXT record for DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH, zone-file style."""
    try:
        signer = DKIMSigner.from_settings(current_app.extensions["kith.settings"])
        if signer is None:
            raise SigningError("set DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH first")
        name, value = public_key_record(signer)
    except SigningError as error:
        raise click.ClickException(str(error)) from error
    # A TXT string holds at most 255 characters; longer values are split into several.
    chunks = " ".join(f'"{value[i : i + 250]}"' for i in range(0, len(value), 250))
    click.echo(f"{name}. IN TXT ( {chunks} )")
