"""Mail as production needs it: the SMTP session and the test email (`smtp`), its delivery
confirmed over IMAP (`delivery`), the domain's SPF/DKIM/DMARC/MX records (`records`), and
the notifications deploycheck sends (`notify`)."""
