"""Security: who reaches what, CSRF, rate limits and protective headers."""
