"""Where the company master comes from: the shipped sample file or the J-Quants API."""
