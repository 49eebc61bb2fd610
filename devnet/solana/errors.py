"""JSON-RPC requests and errors, and the node's human-readable transaction error texts.

Clients branch on codes and on `data.err`, people read the message; both are kept as the node
words them (`Transaction simulation failed: Blockhash not found`, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

log = logging.getLogger(__name__)
M = TypeVar("M")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
UNSUPPORTED_TRANSACTION_VERSION = -32015
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class RpcError(Exception):
    """A JSON-RPC error object: raised by method handlers, rendered by the dispatcher."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def error_reply(request_id: Any, exc: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}


def answer(
    item: Any, methods: Mapping[str, M], invoke: Callable[[M, list[Any]], Any]
) -> dict[str, Any]:
    """One JSON-RPC 2.0 request (already parsed) answered, over HTTP and WebSocket alike:
    malformed requests, unknown methods and bad params get the node's error objects."""
    if not isinstance(item, dict) or not isinstance(item.get("method"), str):
        request_id = item.get("id") if isinstance(item, dict) else None
        return error_reply(request_id, RpcError(INVALID_REQUEST, "Invalid request"))
    request_id = item.get("id")
    method = methods.get(item["method"])
    if method is None:
        return error_reply(request_id, RpcError(METHOD_NOT_FOUND, "Method not found"))
    params = item.get("params")
    if params is None:
        params = []
    if not isinstance(params, list):
        return error_reply(request_id, invalid_params("Invalid params: expected an array"))
    try:
        result = invoke(method, params)
    except RpcError as exc:
        return error_reply(request_id, exc)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        return error_reply(request_id, invalid_params(f"Invalid params: {exc}"))
    except Exception:
        log.exception("solana devnet: %s failed", item["method"])
        return error_reply(request_id, RpcError(INTERNAL_ERROR, "Internal error"))
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


_TX_ERRORS = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "ClusterMaintenance": "Transactions are currently disabled due to cluster maintenance",
    "UnsupportedVersion": "Transaction version is unsupported",
    "InvalidWritableAccount": "Transaction loads a writable account that cannot be written",
    "TooManyAccountLocks": "Transaction locked too many accounts",
    "AddressLookupTableNotFound": "Transaction loads an address table account that doesn't exist",
    "InvalidAddressLookupTableOwner": (
        "Transaction loads an address table account with an invalid owner"
    ),
    "InvalidAddressLookupTableData": (
        "Transaction loads an address table account with invalid data"
    ),
    "InvalidAddressLookupTableIndex": "Transaction address table lookup uses an invalid index",
    "InvalidRentPayingAccount": (
        "Transaction leaves an account with a lower balance than rent-exempt minimum"
    ),
    "MaxLoadedAccountsDataSizeExceeded": "Transaction exceeded max loaded accounts data size cap",
    "InvalidLoadedAccountsDataSizeLimit": (
        "LoadedAccountsDataSizeLimit set for transaction must be greater than 0."
    ),
    "UnbalancedTransaction": "Sum of account balances before and after transaction do not match",
    "ProgramCacheHitMaxLimit": "Program cache hit max limit",
}

_INSTRUCTION_ERRORS = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "UnbalancedInstruction": "sum of account balances before and after instruction do not match",
    "ModifiedProgramId": "instruction illegally modified the program id of an account",
    "ExternalAccountLamportSpend": (
        "instruction spent from the balance of an account it does not own"
    ),
    "ExternalAccountDataModified": "instruction modified data of an account it does not own",
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ReadonlyDataModified": "instruction modified data of a read-only account",
    "DuplicateAccountIndex": "instruction contains duplicate accounts",
    "ExecutableModified": "instruction changed executable bit of an account",
    "RentEpochModified": "instruction modified rent epoch of an account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "AccountDataSizeChanged": (
        "program other than the account's owner changed the size of the account data"
    ),
    "AccountNotExecutable": "instruction expected an executable account",
    "AccountBorrowFailed": (
        "instruction tries to borrow reference for an account which is already borrowed"
    ),
    "AccountBorrowOutstanding": "instruction left account with an outstanding borrowed reference",
    "DuplicateAccountOutOfSync": "instruction modifications of multiply-passed account differ",
    "InvalidError": "program returned invalid error code",
    "ExecutableDataModified": "instruction changed executable accounts data",
    "ExecutableLamportChange": "instruction changed the balance of an executable account",
    "ExecutableAccountNotRentExempt": "executable accounts must be rent exempt",
    "UnsupportedProgramId": "Unsupported program id",
    "CallDepth": "Cross-program invocation call depth too deep",
    "MissingAccount": "An account required by the instruction is missing",
    "ReentrancyNotAllowed": "Cross-program invocation reentrancy not allowed for this instruction",
    "MaxSeedLengthExceeded": "Length of the seed is too long for address generation",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "InvalidRealloc": "Failed to reallocate account data",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "PrivilegeEscalation": "Cross-program invocation with unauthorized signer or writable account",
    "ProgramEnvironmentSetupFailure": "Failed to create program execution environment",
    "ProgramFailedToComplete": "Program failed to complete",
    "ProgramFailedToCompile": "Program failed to compile",
    "Immutable": "Account is immutable",
    "IncorrectAuthority": "Incorrect authority provided",
    "AccountNotRentExempt": "An account does not have enough lamports to be rent-exempt",
    "InvalidAccountOwner": "Invalid account owner",
    "ArithmeticOverflow": "Program arithmetic overflowed",
    "UnsupportedSysvar": "Unsupported sysvar",
    "IllegalOwner": "Provided owner is not allowed",
}


def describe_instruction_error(err: Any) -> str:
    if isinstance(err, str):
        return _INSTRUCTION_ERRORS.get(err, err)
    if isinstance(err, dict) and len(err) == 1:
        ((kind, value),) = err.items()
        if kind == "Custom":
            return f"custom program error: {int(value):#x}"
        if kind == "BorshIoError":
            return f"Failed to serialize or deserialize account data: {value}"
    return str(err)


def describe_tx_error(err: Any) -> str:
    """The Display text of a TransactionError given in its JSON form."""
    if isinstance(err, str):
        return _TX_ERRORS.get(err, err)
    if isinstance(err, dict) and len(err) == 1:
        ((kind, value),) = err.items()
        if kind == "InstructionError":
            index, inner = value
            return f"Error processing Instruction {index}: {describe_instruction_error(inner)}"
        if kind == "DuplicateInstruction":
            return f"Transaction contains a duplicate instruction ({value}) that is not allowed"
        if kind == "InsufficientFundsForRent":
            return (
                f"Transaction results in an account ({value['account_index']}) with "
                "insufficient funds for rent"
            )
        if kind == "ProgramExecutionTemporarilyRestricted":
            return (
                f"Execution of the program referenced by account at index "
                f"{value['account_index']} is temporarily restricted."
            )
    return str(err)


def preflight_failure(
    err: Any, logs: list[str], units: int, loaded_bytes: int = 0, return_data: Any = None
) -> RpcError:
    """sendTransaction's -32002: simulation failed, with the simulation result as `data`."""
    return RpcError(
        PREFLIGHT_FAILURE,
        f"Transaction simulation failed: {describe_tx_error(err)}",
        {
            "accounts": None,
            "err": err,
            "innerInstructions": None,
            "loadedAccountsDataSize": loaded_bytes,
            "logs": logs,
            "replacementBlockhash": None,
            "returnData": return_data,
            "unitsConsumed": units,
        },
    )
