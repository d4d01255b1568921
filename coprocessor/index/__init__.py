"""The indexer: JSON-RPC client, the verified-data store, indexing reads into bundles, the
streaming proof assembler.
"""
