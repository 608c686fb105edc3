"""Applications on the library: the audit, the HTML report and the session generator."""
