export const builtinFeeds = [] as const;
