"""The immutable BPMN 2.0 model.

The parser (`laneway.bpmn`) builds it from XML; the engine reads it and never changes it. Running
state lives elsewhere (`laneway.engine.state`): a definition is shared by every instance of it.
"""

from laneway.model._elements import (
    Collaboration,
    ComplexBehaviorDefinition,
    DataObject,
    Definitions,
    Element,
    ErrorDef,
    EscalationDef,
    EventDefinition,
    EventKind,
    Expression,
    ExtensionElement,
    FlowNode,
    IoMapping,
    Lane,
    LoopCharacteristics,
    Message,
    MessageFlow,
    NodeKind,
    Participant,
    Process,
    SequenceFlow,
    Signal,
    TimerDefinition,
    TimerKind,
)

__all__ = [
    "Collaboration",
    "ComplexBehaviorDefinition",
    "DataObject",
    "Definitions",
    "Element",
    "ErrorDef",
    "EscalationDef",
    "EventDefinition",
    "EventKind",
    "Expression",
    "ExtensionElement",
    "FlowNode",
    "IoMapping",
    "Lane",
    "LoopCharacteristics",
    "Message",
    "MessageFlow",
    "NodeKind",
    "Participant",
    "Process",
    "SequenceFlow",
    "Signal",
    "TimerDefinition",
    "TimerKind",
]
