"""JSON replies in java-tron's and TronGrid's shapes.

java-tron prints protobuf messages with proto field names and leaves out zero values, so an
empty block has no "transactions", a zero balance no "balance", a transfer receipt no "result".
With `visible` true, address fields are base58 and some byte fields (resMessage, messages) text;
otherwise they are hex.
"""

from __future__ import annotations

from typing import Any

from devnet.tron.chain import (
    BLOCK_INTERVAL_MS,
    NET_WINDOW_SLOTS,
    Account,
    Block,
    TronChain,
    TxRecord,
)
from devnet.tron.codec import render_raw
from devnet.tron.config import TronDevnetConfig
from devnet.tron.crypto import format_address, keccak256, to_base58
from devnet.tron.trc20 import ABI_ENTRIES

CODE_VERSION = "4.7.6"
ACTIVE_OPERATIONS = "7fff1fc0033ec30f000000000000000000000000000000000000000000000000"
# A stub runtime (it reverts): the token is emulated in Python, this is only what getcontract
# shows as bytecode.
TOKEN_BYTECODE = "6080604052348015600f57600080fd5b50600080fdfea26474726f6e5822"
TOTAL_NET_LIMIT = 43_200_000_000
TOTAL_NET_WEIGHT = 26_000_000_000
TOTAL_ENERGY_LIMIT = 180_000_000_000
TOTAL_ENERGY_WEIGHT = 19_000_000_000


def message_field(text: str, visible: bool) -> str:
    """Bytes fields java-tron prints as text when visible (Return.message, resMessage)."""
    return text if visible else text.encode().hex()


def tx_json(record: TxRecord, visible: bool, *, with_ret: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_ret:
        out["ret"] = [{"contractRet": record.ret}]
    if record.signatures:
        out["signature"] = [s.hex() for s in record.signatures]
    out["txID"] = record.tx.txid
    out["raw_data"] = render_raw(record.tx, visible)
    out["raw_data_hex"] = record.tx.raw.hex()
    return out


def info_json(chain: TronChain, record: TxRecord, visible: bool) -> dict[str, Any]:
    """TransactionInfo. With visible, log addresses gain the 0x41 prefix before base58
    (java-tron's Util.convertLogAddressToTronAddress), which tronpy's event parser relies on."""
    info = record.info
    block = chain.blocks[record.block]
    out: dict[str, Any] = {"id": info["id"]}
    if "fee" in info:
        out["fee"] = info["fee"]
    out["blockNumber"] = block.number
    out["blockTimeStamp"] = block.timestamp
    out["contractResult"] = info["contractResult"]
    if "contract_address" in info:
        address = bytes.fromhex(info["contract_address"])
        out["contract_address"] = format_address(address, visible)
    out["receipt"] = info["receipt"]
    if "log" in info:
        logs = info["log"]
        if visible:
            logs = [
                {**log, "address": to_base58(bytes.fromhex("41" + log["address"]))} for log in logs
            ]
        out["log"] = logs
    if "result" in info:
        out["result"] = info["result"]
    if "resMessage" in info:
        text = bytes.fromhex(info["resMessage"]).decode()
        out["resMessage"] = message_field(text, visible)
    return out


def block_json(chain: TronChain, block: Block, visible: bool) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if block.number:
        raw["number"] = block.number
    raw["txTrieRoot"] = block.tx_root.hex()
    raw["witness_address"] = format_address(chain.witness, visible)
    raw["parentHash"] = block.parent_id.hex()
    if block.number:
        raw["version"] = 30
    if block.timestamp:
        raw["timestamp"] = block.timestamp
    header: dict[str, Any] = {"raw_data": raw}
    if block.witness_signature:
        header["witness_signature"] = block.witness_signature.hex()
    out: dict[str, Any] = {"blockID": block.block_id.hex(), "block_header": header}
    if block.txids:
        out["transactions"] = [tx_json(chain.txs[t], visible) for t in block.txids]
    return out


def permission_json(address: bytes, permission_id: int, visible: bool) -> dict[str, Any]:
    """The default permissions every account gets at creation: its own key, threshold 1."""
    keys = [{"address": format_address(address, visible), "weight": 1}]
    if permission_id == 2:
        return {
            "type": "Active",
            "id": 2,
            "permission_name": "active",
            "threshold": 1,
            "operations": ACTIVE_OPERATIONS,
            "keys": keys,
        }
    return {"permission_name": "owner", "threshold": 1, "keys": keys}


def account_json(
    chain: TronChain, address: bytes, account: Account, visible: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"address": format_address(address, visible)}
    if account.balance:
        out["balance"] = account.balance
    if account.is_contract:
        out["type"] = "Contract"
    if account.create_time:
        out["create_time"] = account.create_time
    if account.latest_op_time:
        out["latest_opration_time"] = account.latest_op_time  # sic, the proto field name
    used = chain.free_net_used(account)
    if used:
        out["free_net_usage"] = used
    if account.latest_free_slot:
        # Stored in slots, shown in ms like Wallet.getAccount does.
        out["latest_consume_free_time"] = account.latest_free_slot * BLOCK_INTERVAL_MS
        out["net_window_size"] = NET_WINDOW_SLOTS * 1000
        out["net_window_optimized"] = True
    if not account.is_contract:
        out["owner_permission"] = permission_json(address, 0, visible)
        out["active_permission"] = [permission_json(address, 2, visible)]
        energy = {"type": "ENERGY"} | (
            {"amount": account.frozen_energy} if account.frozen_energy else {}
        )
        out["frozenV2"] = [{}, energy, {"type": "TRON_POWER"}]
        resource: dict[str, Any] = {}
        if account.delegated_energy:
            resource["delegated_frozenV2_balance_for_energy"] = account.delegated_energy
        if account.acquired_energy:
            resource["acquired_delegated_frozenV2_balance_for_energy"] = account.acquired_energy
        if chain.energy_used(account):
            resource["energy_usage"] = chain.energy_used(account)
        if resource:
            out["account_resource"] = resource
    return out


def account_resource_json(chain: TronChain, account: Account) -> dict[str, Any]:
    out: dict[str, Any] = {}
    used = chain.free_net_used(account)
    if used:
        out["freeNetUsed"] = used
    out["freeNetLimit"] = chain.config.free_net_limit
    out["TotalNetLimit"] = TOTAL_NET_LIMIT
    out["TotalNetWeight"] = TOTAL_NET_WEIGHT
    energy_limit, energy_used = chain.energy_limit(account), chain.energy_used(account)
    if energy_limit:
        out["EnergyLimit"] = energy_limit
    if energy_used:
        out["EnergyUsed"] = energy_used
    # Their ratio is the energy one staked TRX yields, the devnet's `energy_per_trx`.
    out["TotalEnergyLimit"] = chain.config.energy_per_trx * TOTAL_ENERGY_WEIGHT
    out["TotalEnergyWeight"] = TOTAL_ENERGY_WEIGHT
    return out


def account_net_json(chain: TronChain, account: Account) -> dict[str, Any]:
    out: dict[str, Any] = {}
    used = chain.free_net_used(account)
    if used:
        out["freeNetUsed"] = used
    out["freeNetLimit"] = chain.config.free_net_limit
    out["TotalNetLimit"] = TOTAL_NET_LIMIT
    out["TotalNetWeight"] = TOTAL_NET_WEIGHT
    return out


def contract_json(chain: TronChain, visible: bool) -> dict[str, Any]:
    token = chain.token
    return {
        "bytecode": TOKEN_BYTECODE,
        "consume_user_resource_percent": 100,
        "name": "TetherToken",
        "origin_address": format_address(chain.token_origin, visible),
        "abi": {"entrys": ABI_ENTRIES},
        "origin_energy_limit": 10_000_000,
        "contract_address": format_address(token.address, visible),
        "code_hash": keccak256(bytes.fromhex(TOKEN_BYTECODE)).hex(),
    }


def node_info_json(chain: TronChain, port: int) -> dict[str, Any]:
    head, solid = chain.head, chain.solid_block
    return {
        "activeConnectCount": 0,
        "beginSyncNum": head.number,
        "block": f"Num:{head.number},ID:{head.block_id.hex()}",
        "cheatWitnessInfoMap": {},
        "configNodeInfo": {
            "activeNodeSize": 0,
            "allowAdaptiveEnergy": 0,
            "allowCreationOfContracts": 0,
            "backupListenPort": 10001,
            "backupMemberSize": 0,
            "backupPriority": 8,
            "codeVersion": CODE_VERSION,
            "dbVersion": 2,
            "discoverEnable": False,
            "listenPort": port,
            "maxConnectCount": 30,
            "maxTimeRatio": 5.0,
            "minParticipationRate": 15,
            "minTimeRatio": 0.0,
            "p2pVersion": "11111",
            "passiveNodeSize": 0,
            "sameIpMaxConnectCount": 2,
            "sendNodeSize": 0,
            "supportConstant": True,
            "versionNum": "18306",
        },
        "currentConnectCount": 0,
        "machineInfo": {
            "cpuCount": 2,
            "javaVersion": "1.8.0_412",
            "jvmFreeMemory": 0,
            "jvmTotalMemory": 0,
            "osName": "Linux",
            "processCpuRate": 0.0,
            "threadCount": 1,
        },
        "passiveConnectCount": 0,
        "peerList": [],
        "solidityBlock": f"Num:{solid.number},ID:{solid.block_id.hex()}",
        "totalFlow": 0,
    }


def chain_parameters_json(config: TronDevnetConfig) -> dict[str, Any]:
    values = {
        "getMaintenanceTimeInterval": 21_600_000,
        "getAccountUpgradeCost": 9_999_000_000,
        "getCreateAccountFee": config.create_account_fee,
        "getTransactionFee": config.bandwidth_price,
        "getAssetIssueFee": 1_024_000_000,
        "getWitnessPayPerBlock": 8_000_000,
        "getWitnessStandbyAllowance": 115_200_000_000,
        "getCreateNewAccountFeeInSystemContract": config.create_new_account_fee_in_system_contract,
        "getCreateNewAccountBandwidthRate": 1,
        "getAllowCreationOfContracts": 1,
        "getRemoveThePowerOfTheGr": -1,
        "getEnergyFee": config.energy_price,
        "getExchangeCreateFee": 1_024_000_000,
        "getMaxCpuTimeOfOneTx": 80,
        "getAllowUpdateAccountName": 0,
        "getAllowSameTokenName": 1,
        "getAllowDelegateResource": 1,
        "getTotalEnergyLimit": TOTAL_ENERGY_LIMIT,
        "getAllowTvmTransferTrc10": 1,
        "getTotalEnergyCurrentLimit": TOTAL_ENERGY_LIMIT,
        "getAllowMultiSign": 1,
        "getAllowAdaptiveEnergy": 0,
        "getTotalEnergyTargetLimit": 6_250_000,
        "getTotalEnergyAverageUsage": 0,
        "getUpdateAccountPermissionFee": 100_000_000,
        "getMultiSignFee": 1_000_000,
        "getAllowAccountStateRoot": 0,
        "getAllowProtoFilterNum": 0,
        "getAllowTvmConstantinople": 1,
        "getAllowTvmSolidity059": 1,
        "getAllowTvmIstanbul": 1,
        "getAllowShieldedTRC20Transaction": 1,
        "getForbidTransferToContract": 1,
        "getAdaptiveResourceLimitTargetRatio": 10,
        "getAdaptiveResourceLimitMultiplier": 1000,
        "getChangeDelegation": 1,
        "getWitness127PayPerBlock": 160_000_000,
        "getAllowMarketTransaction": 0,
        "getAllowPBFT": 1,
        "getMaxFeeLimit": config.max_fee_limit,
        "getAllowTransactionFeePool": 0,
        "getAllowBlackHoleOptimization": 1,
        "getAllowNewResourceModel": 1,
        "getAllowTvmFreeze": 1,
        "getAllowTvmVote": 1,
        "getAllowTvmLondon": 1,
        "getAllowTvmCompatibleEvm": 0,
        "getAllowAccountAssetOptimization": 0,
        "getFreeNetLimit": config.free_net_limit,
        "getTotalNetLimit": TOTAL_NET_LIMIT,
        "getAllowHigherLimitForMaxCpuTimeOfOneTx": 1,
        "getAllowAssetOptimization": 1,
        "getAllowNewReward": 1,
        "getMemoFee": config.memo_fee,
        "getAllowDelegateOptimization": 1,
        "getUnfreezeDelayDays": 14,
        "getAllowOptimizedReturnValueOfChainId": 1,
        "getAllowDynamicEnergy": 0,
        "getAllowTvmShangHai": 1,
        "getAllowCancelAllUnfreezeV2": 1,
        "getMaxDelegateLockPeriod": 864_000,
        "getAllowEnergyAdjustment": 1,
        "getMaxCreateAccountTxSize": 1000,
    }
    # Zero values have no "value" key, like any protobuf int64 printed by java-tron.
    return {
        "chainParameter": [
            {"key": key, "value": value} if value else {"key": key} for key, value in values.items()
        ]
    }


def grid_tx_json(chain: TronChain, record: TxRecord) -> dict[str, Any]:
    """An item of TronGrid's /v1/accounts/{address}/transactions (raw_data addresses in hex)."""
    info, receipt = record.info, record.info["receipt"]
    return {
        "ret": [{"contractRet": record.ret, "fee": info.get("fee", 0)}],
        "signature": [s.hex() for s in record.signatures],
        "txID": record.tx.txid,
        "net_usage": receipt.get("net_usage", 0),
        "raw_data_hex": record.tx.raw.hex(),
        "net_fee": receipt.get("net_fee", 0),
        "energy_usage": receipt.get("energy_usage", 0),
        "blockNumber": record.block,
        "block_timestamp": chain.blocks[record.block].timestamp,
        "energy_fee": receipt.get("energy_fee", 0),
        "energy_usage_total": receipt.get("energy_usage_total", 0),
        "raw_data": render_raw(record.tx, False),
        "internal_transactions": [],
    }


def grid_trc20_json(
    chain: TronChain, record: TxRecord, sender: bytes, receiver: bytes, value: int
) -> dict[str, Any]:
    token = chain.token
    return {
        "transaction_id": record.tx.txid,
        "token_info": {
            "symbol": token.symbol,
            "address": to_base58(token.address),
            "decimals": token.decimals,
            "name": token.name,
        },
        "block_timestamp": chain.blocks[record.block].timestamp,
        "from": to_base58(sender),
        "to": to_base58(receiver),
        "type": "Transfer",
        "value": str(value),
    }
