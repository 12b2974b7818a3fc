/**
 * An adapter directory Oar cannot use as it is: the message names the file
 * and the key or tensor, what was expected and what was found.
 */
export class AdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdapterError";
  }
}
