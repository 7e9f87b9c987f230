"""TLS for the mailer's two ways out (SMTP and callbacks): one way to build the client context,
to read a CA-file setting and to describe a failed handshake.

Certificates and host names are always checked. What is trusted: the system's CA certificates, and
in addition the PEM file a setting names ([mail] smtp_ca_file, [callbacks] ca_file), for servers
whose certificates come from a private (company) CA. Where the system has no CA certificates at
all (a slim container without the ca-certificates package) certifi's bundle, which httpx
brings, stands in for them.
"""
from __future__ import annotations

import ssl
from pathlib import Path


def tls_context(ca_file: Path | str | None = None) -> ssl.SSLContext:
    """A client context that verifies certificates and host names against the system's CAs plus,
    when given, the CA certificates in the PEM file `ca_file`.

    Raises OSError (missing or unreadable file) or ssl.SSLError (no certificate in it).
    """
    context = ssl.create_default_context()
    if not context.cert_store_stats()["x509_ca"]:
        try:
            import certifi
        except ImportError:  # pragma: no cover - httpx depends on certifi
            pass
        else:
            context.load_verify_locations(cafile=certifi.where())
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def ca_file_setting(value, what: str) -> Path | None:
    """A CA-file setting -> its path, checked now: a missing, unreadable or empty file is a config
    error naming the key (`what`), not a failure of every later send."""
    if value is None or not str(value).strip():
        return None
    path = Path(str(value).strip()).expanduser()
    try:
        tls_context(path)
    except FileNotFoundError:
        raise SystemExit(f"config: {what}: file {path} does not exist") from None
    except ssl.SSLError as exc:
        raise SystemExit(f"config: {what}: {path} is not a PEM file of CA certificates "
                         f"({exc.reason or exc}); expected one or more -----BEGIN CERTIFICATE----- blocks") from None
    except OSError as exc:
        raise SystemExit(f"config: {what}: cannot read {path}: {exc.strerror or exc}") from None
    return path


def describe_tls_error(exc: ssl.SSLError) -> str:
    """What went wrong in a TLS handshake, in words: `certificate verify failed: ...` for a
    certificate that is not trusted, expired or issued for another host name."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message or exc.reason or exc}".rstrip(".")
    return f"handshake failed: {exc.reason or exc}"


def is_host_name_mismatch(exc: ssl.SSLError) -> bool:
    """The certificate is trusted but issued for another host name (or IP address)."""
    # X509_V_ERR_HOSTNAME_MISMATCH (62), X509_V_ERR_IP_ADDRESS_MISMATCH (64)
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in (62, 64)
