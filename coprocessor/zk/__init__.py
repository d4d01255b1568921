"""The zk plumbing: journal and batch journal codecs, receipt claims, the receipt store, the
prover client.
"""
