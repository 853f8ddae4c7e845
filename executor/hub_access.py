"""Can this token download that gated Hugging Face repository? Asked before anything is rented.

The check is the Hub's own ``auth-check`` endpoint through ``huggingface_hub`` (the client the
remote tasks download with): 200 when the token's account may read the repository, an
``X-Error-Code: GatedRepo`` answer when its terms were not accepted, ``RepoNotFound`` when the
id is wrong or private. The endpoint is injectable (``HF_ENDPOINT``'s role), so tests talk to a
local server that speaks the same API.
"""

from __future__ import annotations

from typing import Protocol

from executor.errors import ExecutorError

__all__ = ["HfHubAccess", "HubAccess"]


class HubAccess(Protocol):
    """Raises ExecutorError when ``token`` cannot read ``repo_id``."""

    def check(self, repo_id: str, token: str) -> None: ...


class HfHubAccess:
    """HubAccess over huggingface_hub's ``HfApi.auth_check``."""

    def __init__(self, endpoint: str | None = None) -> None:
        self.endpoint = endpoint  # None: huggingface_hub's default (HF_ENDPOINT or the Hub)

    def check(self, repo_id: str, token: str) -> None:
        """ExecutorError (nothing launched) when the token may not download the repository."""
        try:
            from huggingface_hub import HfApi
            from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
        except ImportError:
            raise ExecutorError(
                f"cannot check access to the gated model {repo_id}: huggingface_hub is not "
                "installed; nothing was launched.",
                fix="install the cloud extra (`pip install 'llm-tailor[cloud]'`).",
            ) from None
        page = f"https://huggingface.co/{repo_id}"
        try:
            HfApi(endpoint=self.endpoint).auth_check(repo_id, token=token)
        except GatedRepoError:
            raise ExecutorError(
                f"HF_TOKEN's account has not been granted the gated model {repo_id}; nothing "
                "was launched.",
                fix=f"accept the model's terms at {page} with that account (approval can take "
                "a while), or export a token of an account that has access.",
            ) from None
        except RepositoryNotFoundError:
            raise ExecutorError(
                f"Hugging Face has no model {repo_id} that HF_TOKEN can read (wrong id, "
                "private, or an invalid token); nothing was launched.",
                fix=f"check the token (`hf auth whoami`) and that {page} opens, then launch again.",
            ) from None
        except Exception as exc:  # the network boundary: any other failure of the request
            raise ExecutorError(
                f"could not ask the Hugging Face Hub whether HF_TOKEN may read {repo_id} "
                f"({type(exc).__name__}: {exc}); nothing was launched.",
                fix="check this machine's connection to the Hub, then launch again.",
            ) from None
