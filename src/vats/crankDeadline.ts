/** A few seconds: far beyond an honest delivery (milliseconds), short enough that a runaway one is cut before anyone waits long. */
export const defaultCrankDeadlineMs = 5_000;
