"""How SNS signs what it delivers, with a key of the engine's own.

"Verifying the signatures of Amazon SNS messages"
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html) and "Verifying the signature of
an Amazon SNS message when using HTTP query-based requests"
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html): the
string to sign is each of ``Message``, ``MessageId``, ``Subject`` (only if present), ``Timestamp``, ``TopicArn``
and ``Type`` (for a notification; a confirmation signs ``SubscribeURL`` and ``Token`` in their places), in that
order, as its name, a newline, its value, a newline. ``SignatureVersion`` 1 signs it with SHA1withRSA, 2 with
SHA256withRSA (the topic's ``SignatureVersion`` attribute, "SetTopicAttributes",
https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html); ``Signature`` is base64 and
``SigningCertURL`` names the X.509 certificate whose public key verifies it.

The engine has no Amazon certificate: one RSA key and a self-signed certificate are made when the engine starts
and the certificate is served on the engine's own endpoint (``CERTIFICATE_PATH``), so a subscriber that fetches
``SigningCertURL`` and verifies the signature works as against AWS, except for trusting Amazon's issuer.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.endpoints import methods_only

#: where the engine serves its signing certificate
CERTIFICATE_PATH = "/_jobkit/sns/SimpleNotificationService.pem"
#: the versions SNS signs with: the topic attribute's values and their hash
VERSIONS: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
#: the fields signed, in order, by message type ("Verifying the signatures of Amazon SNS messages")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def string_to_sign(document: Mapping[str, Any]) -> str:
    """The text SNS signs for a message: each field it signs that the message has, as name and value lines."""
    fields = SIGNED_FIELDS.get(str(document.get("Type")), SIGNED_FIELDS["Notification"])
    return "".join(f"{name}\n{document[name]}\n" for name in fields if document.get(name) is not None)


class Signer:
    """The engine's SNS signing key and its self-signed certificate, made once per engine start."""

    def __init__(self, endpoint: str) -> None:
        self.certificate_url = endpoint.rstrip("/") + CERTIFICATE_PATH
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.jobkit.local")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                            .not_valid_before(now - datetime.timedelta(minutes=5))
                            .not_valid_after(now + datetime.timedelta(days=365))
                            .sign(self._key, hashes.SHA256()))
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, document: dict[str, Any], version: str = "1") -> dict[str, Any]:
        """``document`` (a notification JSON, or the ``Sns`` of a Lambda event) with ``SignatureVersion``,
        ``Signature`` and the certificate's URL set: ``SigningCertURL``, or ``SigningCertUrl`` where the document
        spells its URLs that way (the Lambda event)."""
        algorithm = VERSIONS.get(version, hashes.SHA1)()
        signature = self._key.sign(string_to_sign(document).encode(), padding.PKCS1v15(), algorithm)
        document["SignatureVersion"] = version if version in VERSIONS else "1"
        document["Signature"] = base64.b64encode(signature).decode()
        document["SigningCertUrl" if "SigningCertUrl" in document else "SigningCertURL"] = self.certificate_url
        return document

    def serve(self, request: Request) -> Response:
        """The certificate, as SNS serves its ``.pem`` files."""
        refused = methods_only(request, ("GET", "HEAD"), f"GET {CERTIFICATE_PATH}")
        if refused is not None:
            return refused
        return Response(self.pem, content_type="application/x-x509-ca-cert")
