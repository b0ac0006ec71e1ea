"""The pieces of self-consistency's vote (search.strategies.self_consistency), one module each:
the ballots and their tally, what a ballot weighs, programs among them, DeepConf's confidence
filter, and the judge's tie-break on a close vote. Each piece's settings are a small model the
vote's settings are built from, so that a strategy holding a piece (auto) declares it once."""
