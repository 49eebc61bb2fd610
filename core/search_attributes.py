"""Custom search attributes: the Web UI and `temporal workflow list --query` filter on these.

They are registered by the embedded stack (`walletflow dev`) and by the test fixtures; on a
real cluster, register them once with `walletflow setup` (or `temporal operator
search-attribute create`, see the README).
"""

from temporalio.common import SearchAttributeKey

CHAIN = SearchAttributeKey.for_keyword("WalletflowChain")
ADDRESS = SearchAttributeKey.for_keyword("WalletflowAddress")
ASSET = SearchAttributeKey.for_keyword("WalletflowAsset")
STATUS = SearchAttributeKey.for_keyword("WalletflowStatus")
REQUESTED_BY = SearchAttributeKey.for_keyword("WalletflowRequestedBy")
# Copy trading: who copies whom, and the token a trade bought or sold.
LEADER = SearchAttributeKey.for_keyword("WalletflowLeader")
FOLLOWER = SearchAttributeKey.for_keyword("WalletflowFollower")
TOKEN = SearchAttributeKey.for_keyword("WalletflowToken")
# Deposits and sweeps: whose deposit address (a sweep's status is STATUS).
CUSTOMER = SearchAttributeKey.for_keyword("WalletflowCustomer")

ALL = (CHAIN, ADDRESS, ASSET, STATUS, REQUESTED_BY, LEADER, FOLLOWER, TOKEN, CUSTOMER)
