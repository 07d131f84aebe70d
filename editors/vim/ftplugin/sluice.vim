" Vim filetype plugin: Sluice (.slu).  Comments run from '#' to the end of
" the line; indentation is by two spaces, as in docs/ and examples/.
if exists("b:did_ftplugin")
  finish
endif
let b:did_ftplugin = 1

setlocal comments=:# commentstring=#\ %s
setlocal expandtab shiftwidth=2 softtabstop=2
let b:undo_ftplugin = "setlocal comments< commentstring< expandtab< shiftwidth< softtabstop<"
