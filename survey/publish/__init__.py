"""Publication: disclosure control and the bulletin (HTML, Excel, CSV, charts)."""
