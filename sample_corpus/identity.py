"""How the sample names its generator inside its own files.

The WARC files (warcinfo record, User-Agent of every request), ``sample-manifest.json`` and
``domains.yaml`` carry these strings, so they are part of the sample's fixed bytes: they keep the
generator's original module name, and ``make demo`` gives the same counts as before the package moved.
"""

GENERATOR = "datapipe.sample"
GENERATOR_VERSION = 2
USER_AGENT = f"TeleFLM-SampleBot/1.0 (synthetic sample crawl; {GENERATOR})"
