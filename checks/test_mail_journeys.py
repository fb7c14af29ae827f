"""The application's own emails (mail_journeys): a request to the application makes it send a
mail, which must arrive in the expected mailbox, authenticated, with links that answer."""

from __future__ import annotations


def test_mail_journey(journey_result, record_detail, evidence) -> None:
    """The request is answered 2xx; within wait_s a new mail to expect.to with the expected
    Subject, body and From arrives; the receiver says spf, dkim and dmarc = pass; a DKIM
    signature verifies again here, aligned with From; with links_ok, every link answers 2xx/3xx
    over verified TLS. The delay is reported, the mail deleted, tokens in links masked."""
    record_detail("journey", journey_result.details())
    problems = journey_result.problems()
    evidence(journey_result.summary())
    assert not problems, "\n".join(problems)
