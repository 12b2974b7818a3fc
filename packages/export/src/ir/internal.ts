/**
 * Keys of the methods through which Graph keeps values and nodes consistent.
 * They are not exported from the package: outside code changes a graph only
 * through Node.setInput, the builders and Graph.replace.
 */
export const kAddUse: unique symbol = Symbol("addUse");
export const kRemoveUse: unique symbol = Symbol("removeUse");
export const kSetName: unique symbol = Symbol("setName");
export const kSetState: unique symbol = Symbol("setState");
export const kValueName: unique symbol = Symbol("valueName");
export const kNodeName: unique symbol = Symbol("nodeName");
export const kConsume: unique symbol = Symbol("consume");
export const kAppendNode: unique symbol = Symbol("appendNode");
export const kAddInitializer: unique symbol = Symbol("addInitializer");
