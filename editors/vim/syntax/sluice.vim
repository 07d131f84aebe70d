" Vim syntax file
" Language:   Sluice (.slu), a language for conditional neural networks
" Reference:  docs/language.md ("Lexical structure", "Builtin functions",
"             "Parameter kinds and their tensors")
"
" The word lists are those of the compiler: the reserved words of
" lang/lexer.re, the builtins of compiler/check_expr.c and check_shape.c,
" the parameter kinds of compiler/instances.c.  test/editors/keywords.test
" checks them against those files and docs/language.md.

if exists("b:current_syntax")
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

" Reserved words (docs/language.md, "Reserved words").
syn keyword sluiceStructure    model layer
syn keyword sluiceInclude      import
syn keyword sluiceDeclaration  input output param threshold weights tokens
syn keyword sluiceConditional  gate else
syn keyword sluiceStatement    exit when route top by expert of blocks from
syn keyword sluiceRepeat       for in
syn keyword sluiceType         f32 i32
syn keyword sluiceBoolean      true false
syn keyword sluiceOperator     and or not

" Builtin functions: reserved names, not keywords (a 'relu' may not be
" declared, but the lexer reads it as a name).
syn keyword sluiceBuiltin      relu gelu gelu_tanh sigmoid tanh exp log
syn keyword sluiceBuiltin      softmax log_softmax max min sum mean argmax
syn keyword sluiceBuiltin      entropy margin
syn keyword sluiceBuiltin      pool_mean pool_max pool_sum concat concat_features
syn keyword sluiceBuiltin      zeros ones topk_mask top_tokens top_tokens_merged
syn keyword sluiceBuiltin      tokens_above tokens_above_merged

" Built-in parameter kinds.
syn keyword sluiceKind         dense layernorm batchnorm vector matrix embedding
syn keyword sluiceKind         attention list

" The name a model or layer declares.
syn match   sluiceDefName      "\%(\<\%(model\|layer\)\s\+\)\@<=\h\w*"

" Numbers: dec, float = (dec "." [0-9]* | "." [0-9]+) exp? | dec exp.
syn match   sluiceNumber       "\<\d\+\>"
syn match   sluiceFloat        "\<\d\+\.\d*\%([eE][-+]\=\d\+\)\="
syn match   sluiceFloat        "\%(\<\|\W\@<=\)\.\d\+\%([eE][-+]\=\d\+\)\=\>"
syn match   sluiceFloat        "\<\d\+[eE][-+]\=\d\+\>"

" Strings close on their line; escapes \\ \" \n \t.
syn match   sluiceEscape       contained +\\[\\"nt]+
syn match   sluiceBadEscape    contained +\\[^\\"nt]+
syn region  sluiceString       start=+"+ skip=+\\\\\|\\"+ end=+"+ end=+$+ oneline
                             \ contains=sluiceEscape,sluiceBadEscape

syn match   sluiceArrow        "->"
syn match   sluiceCompare      "[<>]=\=\|[=!]="

syn keyword sluiceTodo         contained TODO FIXME XXX NOTE
syn match   sluiceComment      "#.*$" contains=sluiceTodo,@Spell

hi def link sluiceStructure    Structure
hi def link sluiceInclude      Include
hi def link sluiceDeclaration  Keyword
hi def link sluiceConditional  Conditional
hi def link sluiceStatement    Statement
hi def link sluiceRepeat       Repeat
hi def link sluiceType         Type
hi def link sluiceBoolean      Boolean
hi def link sluiceOperator     Operator
hi def link sluiceBuiltin      Function
hi def link sluiceKind         Type
hi def link sluiceDefName      Function
hi def link sluiceNumber       Number
hi def link sluiceFloat        Float
hi def link sluiceString       String
hi def link sluiceEscape       SpecialChar
hi def link sluiceBadEscape    Error
hi def link sluiceArrow        Operator
hi def link sluiceCompare      Operator
hi def link sluiceTodo         Todo
hi def link sluiceComment      Comment

let b:current_syntax = "sluice"

let &cpo = s:cpo_save
unlet s:cpo_save
