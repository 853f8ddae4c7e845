"""tailor's catalog: GPU SKUs, cloud offers, model architectures, hosted-API prices and
quantized serving facts.

The leaf package: it imports none of tailor's other packages. Every number carries its source
and the date it was retrieved. Nothing is read at import time; ``load_catalog()`` is cached.
"""

from catalog.cloud_records import (
    Area,
    AreaRtt,
    CloudFacts,
    CloudTier,
    ControllerDefaults,
    ControllerVm,
    RegionInfo,
)
from catalog.errors import CatalogError, CatalogFileError, TailorError, UnknownNameError
from catalog.files import write_text_atomic
from catalog.loaders import catalog_home, load_catalog
from catalog.params import active_params, total_params
from catalog.quantized_records import (
    CheckpointFormat,
    ColdStart,
    ColdStartScope,
    FormatSpeed,
    LoraServing,
    QuantizationJob,
    QuantizedCheckpoint,
    SpeedFormat,
    SpotInterruption,
    VllmMethod,
)
from catalog.records import ApiModel, FineTuningPrice, GpuSku, ModelArch, Offer, Vendor
from catalog.tables import Catalog

__all__ = [
    "ApiModel",
    "Area",
    "AreaRtt",
    "Catalog",
    "CatalogError",
    "CatalogFileError",
    "CheckpointFormat",
    "CloudFacts",
    "CloudTier",
    "ColdStart",
    "ColdStartScope",
    "ControllerDefaults",
    "ControllerVm",
    "FineTuningPrice",
    "FormatSpeed",
    "GpuSku",
    "LoraServing",
    "ModelArch",
    "Offer",
    "QuantizationJob",
    "QuantizedCheckpoint",
    "RegionInfo",
    "SpeedFormat",
    "SpotInterruption",
    "TailorError",
    "UnknownNameError",
    "Vendor",
    "VllmMethod",
    "active_params",
    "catalog_home",
    "load_catalog",
    "total_params",
    "write_text_atomic",
]
