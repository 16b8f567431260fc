import {
  type ChatWrapper,
  type LlamaModel,
  type ResolvableChatWrapperTypeName,
  resolveChatWrapper,
} from 'node-llama-cpp';

/** A chat wrapper a model may be pinned to: node-llama-cpp's, less 'template' (which needs templates of its own). */
export type ChatWrapperChoice = Exclude<ResolvableChatWrapperTypeName, 'template'>;

/**
 * How prompts are laid out for `model`. 'auto' (the default): node-llama-cpp matches the GGUF's own chat template
 * to one of its wrappers (rendering sample chats with each until one agrees, about a second of CPU for a real
 * model's template), else uses the template as Jinja, else a general layout. A name pins that wrapper, for a file
 * with no template or one node-llama-cpp misreads, as vLLM's and llama-server's `--chat-template` do; it also skips
 * the matching. 'jinjaTemplate' renders the file's own template as it is, and refuses a file that has none.
 * The worker that runs the model and the API that counts its prompts call this alike, so the two agree.
 */
export function chatWrapperFor(model: LlamaModel, choice: ChatWrapperChoice = 'auto'): ChatWrapper {
  if (choice === 'auto') return resolveChatWrapper(model);
  if (choice === 'jinjaTemplate' && !model.fileInfo.metadata.tokenizer?.chat_template)
    throw new Error(`chat wrapper jinjaTemplate: ${model.filename ?? 'the model'} has no chat template of its own`);
  return resolveChatWrapper(model, { type: choice, fallbackToOtherWrappersOnJinjaError: false });
}
